"""The documentation site's generated parts: the settings page lists every setting the server
reads, and every public name has a docstring for the API reference. (scripts/test builds the
whole site with `mkdocs build --strict`.)"""

from __future__ import annotations

import importlib.util
import inspect
import re
from types import ModuleType

import pytest
from support import ROOT

import hwebserver
from hwebserver.api.enums import webServerSeverity
from hwebserver.api.settings import ALIASES, OPTIONS, Option

SETTINGS_PAGE = ROOT / "docs" / "settings.md"


def settings_hook() -> ModuleType:
    """docs/hooks/settings_reference.py, the MkDocs hook, loaded without MkDocs."""
    path = ROOT / "docs" / "hooks" / "settings_reference.py"
    spec = importlib.util.spec_from_file_location("settings_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(markdown: str) -> dict[str, list[str]]:
    """Setting name -> its row's cells (type, default, what it does)."""
    found = {}
    for line in markdown.splitlines():
        match = re.match(r"\| `([A-Z_0-9]+)` \| (.*) \|$", line)
        if match:
            found[match.group(1)] = [cell.strip() for cell in match.group(2).split(" | ")]
    return found


def test_settings_page_has_a_row_for_every_option_with_its_default():
    page = settings_hook().render(SETTINGS_PAGE.read_text())
    table = rows(page)
    assert set(table) == set(OPTIONS)
    for name, option in OPTIONS.items():
        _kind, default, doc = table[name]
        assert option.doc[1:] in doc, name
        if option.default is None:
            assert default == "unset", name
        elif isinstance(option.default, float) and option.default.is_integer():
            assert default.startswith(f"`{int(option.default)}`"), name
        else:
            assert default.startswith(f"`{option.default!r}`"), name
    for alias in ALIASES:
        assert f"`{alias}`" in page  # a reader searching for the other spelling finds it


def test_settings_page_build_fails_when_an_option_has_no_row(monkeypatch):
    """What keeps the page from drifting: a setting added to OPTIONS that the page does not
    show stops the build (here: a marker gone, so its table never appears)."""
    hook = settings_hook()
    page = SETTINGS_PAGE.read_text()
    with pytest.raises(ValueError, match="lacks the marker"):
        hook.render(page.replace(hook.MARKERS["server"], ""))
    extra = Option("NOT_RENDERED", "int", 1, "elsewhere", "a scope no table shows")
    monkeypatch.setitem(hook.OPTIONS, "NOT_RENDERED", extra)
    with pytest.raises(ValueError, match="no row for: NOT_RENDERED"):
        hook.render(page)


def test_every_public_name_has_a_docstring():
    missing = []
    for name in hwebserver.__all__:
        value = getattr(hwebserver, name)
        if isinstance(value, webServerSeverity):
            # MessageSeverity, ...: members of the enum, whose docstring names them.
            assert name in (webServerSeverity.__doc__ or ""), name
            continue
        doc = inspect.getdoc(value) or ""
        if len(doc) < 40:
            missing.append(name)
    assert missing == []


@pytest.mark.parametrize(
    "name",
    [
        "run",
        "urlHandler",
        "apiFunction",
        "webSocket",
        "fileResponse",
        "errorResponse",
        "redirect",
        "registerWSGIApp",
        "registerASGIApp",
        "registerStaticFilesDirectory",
        "registerArchiveFile",
        "setSettingsForPort",
    ],
)
def test_functions_with_parameters_document_each_of_them(name):
    function = getattr(hwebserver, name)
    doc = inspect.getdoc(function) or ""
    for parameter in inspect.signature(function).parameters:
        assert f"{parameter}" in doc, f"{name}: parameter {parameter} is not documented"


def test_logs_page_says_what_each_verbosity_level_adds_and_how_to_get_access_lines():
    page = (ROOT / "docs" / "logs.md").read_text()
    table = [line for line in page.splitlines() if line.startswith("| `webServerVerbosity.")]
    assert [line.split("`")[1] for line in table] == [
        f"webServerVerbosity.{level.name}" for level in hwebserver.webServerVerbosity
    ]
    assert "access line" in table[-1]
    assert "LOG_FILE" in page  # access lines in a file whatever the verbosity
    assert "logs.md" in (ROOT / "mkdocs.yml").read_text()


ARCHITECTURE_PAGE = ROOT / "docs" / "architecture.md"
PACKAGE_DIR = ROOT / "hwebserver"


def named_files(markdown: str) -> list[tuple[str, str]]:
    """(folder the sentence is about, file) for every `something.py` the page names; the
    folder is that of the table row (`worker/http/`) when the name stands in one."""
    found = []
    for line in markdown.splitlines():
        row = re.match(r"\| `(worker/\w+)/`", line)
        folder = row.group(1) if row else ""
        for name in re.findall(r"`([\w/]+\.py)`", line):
            found.append((folder, name))
    return found


def test_every_module_the_architecture_page_names_exists() -> None:
    modules = {path.relative_to(PACKAGE_DIR).as_posix() for path in PACKAGE_DIR.rglob("*.py")}
    missing = []
    for folder, name in named_files(ARCHITECTURE_PAGE.read_text()):
        if "/" in name:  # from the project, the package (worker/http/x.py) or worker/
            exists = (ROOT / name).exists() or name in modules or f"worker/{name}" in modules
        elif folder:  # a bare name in a part's row: inside that part
            exists = f"{folder}/{name}" in modules
        else:  # a bare name in prose: somewhere in the package, or a project script
            exists = (
                any(module.rsplit("/", 1)[-1] == name for module in modules)
                or (ROOT / "scripts" / name).exists()
            )
        if not exists:
            missing.append(f"{folder}/{name}" if folder else name)
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"
    assert len(named_files(ARCHITECTURE_PAGE.read_text())) > 50  # the page was read

"""The documentation site's generated parts: the settings page lists every setting the server
reads, and every public name has a docstring for the API reference. (scripts/test builds the
whole site with `mkdocs build --strict`.)"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from support import ROOT, wait_for

import hwebserver
from hwebserver.api.enums import webServerSeverity
from hwebserver.api.settings import ALIASES, OPTIONS, Option
from hwebserver.testing import free_port

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
        else:  # a bare name in prose: in the package, a project script, or the project's own
            exists = (
                any(module.rsplit("/", 1)[-1] == name for module in modules)
                or (ROOT / "scripts" / name).exists()
                or (ROOT / name).exists()  # setup.py
            )
        if not exists:
            missing.append(f"{folder}/{name}" if folder else name)
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"
    assert len(named_files(ARCHITECTURE_PAGE.read_text())) > 50  # the page was read


def test_settings_page_names_the_environment_variable_of_every_server_wide_setting():
    table = rows(settings_hook().render(SETTINGS_PAGE.read_text()))
    for name, option in OPTIONS.items():
        if option.scope == "server":
            assert f"`HWEBSERVER_{name}`" in table[name][2], name


def test_getting_started_names_every_runtime_dependency():
    """The page says "nothing else": it must say all of them (prometheus_client was left out)."""
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    page = (ROOT / "docs" / "getting-started.md").read_text()
    for requirement in declared:
        name = re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0]
        assert name in page, name


def test_readme_mkdocs_serve_prints_no_end_of_life_banner(tmp_path):
    """The README's `mkdocs serve` command, run as given: it serves the site without Material
    for MkDocs' end-of-life notice on the console."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"`((?:[A-Z_0-9]+=\S+ )*)\.venv/bin/mkdocs serve`", readme.replace("\n", " "))
    assert match is not None, "the README gives no `.venv/bin/mkdocs serve` command"
    env = dict(os.environ)
    env.update(pair.split("=", 1) for pair in match.group(1).split())
    if "NO_MKDOCS_2_WARNING" not in match.group(1):
        env.pop("NO_MKDOCS_2_WARNING", None)  # as a user's shell has it: not set
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed in this environment (scripts/setup installs it)")
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [str(mkdocs), "serve", "--no-livereload", "-a", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: "Serving on" in log.read_text(errors="replace"), timeout=120)
        finally:
            process.terminate()
            process.wait(30)
    text = log.read_text(errors="replace")
    assert "end of life" not in text, text


def test_setup_as_root_names_the_debian_packages_before_installing_them(tmp_path):
    """scripts/setup run by root: which packages apt-get installs is said first. apt-get and
    id are stand-ins on PATH (the test installs nothing); the script itself runs as is."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup", checkout / "scripts" / "setup")
    shutil.copy(ROOT / "pyproject.toml", checkout / "pyproject.toml")
    venv = checkout / ".venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text("#!/bin/sh\nexit 0\n")
    (venv / "python").chmod(0o755)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    (checkout / ".venv" / ".hwebserver-installed").write_text(digest + "\n")
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("bash", "cat", "sha256sum", "cut", "dirname"):
        found = shutil.which(name)
        assert found is not None, name
        (tools / name).symlink_to(found)
    (tools / "id").write_text("#!/bin/sh\necho 0\n")
    (tools / "apt-get").write_text('#!/bin/sh\necho "apt-get called: $*"\n')
    for stub in ("id", "apt-get"):
        (tools / stub).chmod(0o755)
    result = subprocess.run(
        [str(tools / "bash"), str(checkout / "scripts" / "setup")],
        env={"PATH": str(tools), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    first_call = next(i for i, line in enumerate(lines) if line.startswith("apt-get called"))
    named = [line for line in lines[:first_call] if "chromium" in line and "root" in line]
    assert named, result.stdout
    if not Path("/usr/sbin/haproxy").exists():
        assert "haproxy" in named[0]

"""MkDocs hook: the settings reference is generated from `hwebserver.api.settings.OPTIONS` at
build time, so it cannot drift from the code that reads the settings.

docs/settings.md holds two markers, one per scope; each becomes a table (name, type, default,
what it does). The build fails (the hook raises) if a marker is missing or if a name in OPTIONS
has no row once the page is rendered. tests/end_to_end/test_docs.py calls render() without MkDocs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # document this checkout's hwebserver, not another install

from hwebserver.api.internal.settings_sources import environment_name  # noqa: E402
from hwebserver.api.settings import ALIASES, OPTIONS, Option  # noqa: E402

PAGE = "settings.md"
MARKERS = {"port": "<!-- settings: port -->", "server": "<!-- settings: server -->"}

KIND_NAMES = {
    "int": "int",
    "float": "float (seconds)",
    "bool": "bool",
    "str": "str",
    "list": "list of str",
    "severity": "webServerSeverity",
    "optional_float": "float or None",
    "optional_int": "int or None",
}


def describe_default(option: Option) -> str:
    value = option.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{value}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, int) and value >= 1024 and value % 1024 == 0:
        for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if value % size == 0:
                return f"`{value}` ({value // size} {unit})"
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def aliases_of(name: str) -> list[str]:
    return [alias for alias, target in ALIASES.items() if target == name]


def row(option: Option) -> str:
    doc = option.doc[:1].upper() + option.doc[1:]
    aliases = aliases_of(option.name)
    if aliases:
        doc += " (also spelled " + ", ".join(f"`{alias}`" for alias in aliases) + ")"
    if option.flag is not None:
        doc += f"; on the command line `{option.flag}`"
    if option.scope == "server":
        doc += f"; environment: `{environment_name(option.name)}`"
    kind = KIND_NAMES.get(option.kind, option.kind)
    cells = [f"`{option.name}`", kind, describe_default(option), doc.replace("|", "\\|")]
    return "| " + " | ".join(cells) + " |"


def table(scope: str) -> str:
    lines = ["| Setting | Type | Default | What it does |", "|---|---|---|---|"]
    lines += [row(option) for option in OPTIONS.values() if option.scope == scope]
    return "\n".join(lines)


def render(markdown: str) -> str:
    """The page with its tables; ValueError if a marker or an option's row is missing."""
    for scope, marker in MARKERS.items():
        if marker not in markdown:
            raise ValueError(f"{PAGE} lacks the marker {marker}")
        markdown = markdown.replace(marker, table(scope))
    missing = [name for name in OPTIONS if f"| `{name}` |" not in markdown]
    if missing:
        raise ValueError(f"{PAGE} has no row for: {', '.join(missing)}")
    return markdown


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    from mkdocs.exceptions import PluginError

    try:
        return render(markdown)
    except ValueError as exc:
        raise PluginError(str(exc)) from exc

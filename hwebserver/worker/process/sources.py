"""The application's loaded Python source files: what a reload-on-change watches.

Not the standard library, not installed packages (site-packages, dist-packages, a .venv),
not version-control or cache directories, and not hwebserver itself.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
from pathlib import Path

_SKIPPED_PARTS = frozenset(
    (".venv", "venv", ".git", "site-packages", "dist-packages", "__pycache__", ".tox")
)


def _excluded_roots() -> list[str]:
    roots = {
        sysconfig.get_paths().get(key, "") for key in ("stdlib", "platstdlib", "purelib", "platlib")
    }
    try:
        roots.update(site.getsitepackages())
    except AttributeError:  # some embedded interpreters lack it
        pass
    roots.add(site.getusersitepackages() or "")
    roots.add(str(Path(__file__).resolve().parents[2]))  # hwebserver itself (from worker/process/)
    return sorted(os.path.join(os.path.realpath(r), "") for r in roots if r)


def is_application_file(path: str, excluded: list[str]) -> bool:
    if not path.endswith(".py"):
        return False
    real = os.path.realpath(path)
    if any(real.startswith(root) for root in excluded):
        return False
    return not _SKIPPED_PARTS.intersection(Path(real).parts)


def application_sources() -> list[str]:
    """Absolute paths of the loaded modules' source files that belong to the application."""
    excluded = _excluded_roots()
    found: set[str] = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        path = os.path.abspath(path)
        if is_application_file(path, excluded) and os.path.isfile(path):
            found.add(path)
    return sorted(found)

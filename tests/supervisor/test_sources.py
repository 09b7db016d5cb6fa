"""Which loaded files a reload-on-change watches: the application's, nothing installed."""

from __future__ import annotations

import importlib
import json
import sys

import httpx

from hwebserver.worker.process.sources import (
    _excluded_roots,
    application_sources,
    is_application_file,
)


def test_application_modules_are_watched_installed_ones_are_not(tmp_path, monkeypatch):
    (tmp_path / "studio_tool.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("studio_tool")
    try:
        sources = application_sources()
        assert str(tmp_path / "studio_tool.py") in sources
        assert json.__file__ not in sources  # the standard library
        assert httpx.__file__ not in sources  # site-packages
        assert not any("/hwebserver/" in path for path in sources)  # the server itself
    finally:
        sys.modules.pop("studio_tool", None)


def test_venv_and_git_directories_are_not_application_files(tmp_path):
    excluded = _excluded_roots()
    assert is_application_file(str(tmp_path / "app.py"), excluded)
    assert not is_application_file(str(tmp_path / ".venv" / "lib" / "x.py"), excluded)
    assert not is_application_file(str(tmp_path / ".git" / "hooks" / "x.py"), excluded)
    assert not is_application_file(str(tmp_path / "data.json"), excluded)

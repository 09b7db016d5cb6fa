"""The suite is arranged like the package (http/, policies/, websockets/, mounts/ for hosted
apps, files/, api/, supervisor/, worker/, end_to_end/); tests/apps/ holds the services the
tests start, tests/*.py the shared helpers.

Tests that start processes carry the `process` marker, given here to every test of a module
that can start one (it names one of the helpers that do, or subprocess); the others are the
fast subset, `pytest -m "not process"` (`scripts/test --fast`). A test without the marker that
starts a process fails, so the subset stays honest."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))

# A user's project with its own pytest.ini, run by test_userproject.py in a pytest of its own.
collect_ignore = ["userproject"]

# What a module names when it can start a process (a service, the CLI, a browser, a pytest).
STARTS_PROCESSES = (
    "ServerProcess",
    "subprocess",
    "hwebserver_service",
    "server(",
    "sys.executable",
    "os.fork",
    "pytester",
    "autobahn_suite",
    "make_certificate",
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "process: the test starts processes (left out of `scripts/test --fast`)"
    )


def starts_processes(path: Path, cache: dict[Path, bool] = {}) -> bool:  # noqa: B006
    if path not in cache:
        source = path.read_text()
        cache[path] = any(word in source for word in STARTS_PROCESSES)
    return cache[path]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if starts_processes(Path(str(item.fspath))):
            item.add_marker(pytest.mark.process)


@pytest.fixture(autouse=True)
def _in_process_tests_start_no_process(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("process") is not None:
        return

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(
            f"{request.node.nodeid} starts a process but has no `process` marker: name one of "
            "tests/conftest.py STARTS_PROCESSES in its module, or mark it"
        )

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(os, "fork", refuse)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """An httpx client with a generous timeout, closed after the test."""
    with httpx.Client(timeout=10) as c:
        yield c

"""The version a user sees (hwebserver --version, hwebserver.__version__) is the installed one."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from support import COMPILED_RUN, python_env

import hwebserver


def run_version(command: list[str]) -> str:
    result = subprocess.run(
        [*command, "--version"], env=python_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_version_attribute_is_the_distribution_version():
    assert hwebserver.__version__ == version("hwebserver")


def test_command_line_version_is_the_distribution_version():
    form = "request path compiled" if COMPILED_RUN else "pure Python"
    expected = f"hwebserver {version('hwebserver')} ({form})"
    assert run_version([sys.executable, "-m", "hwebserver"]) == expected
    # The console script pip installs beside the interpreter says the same.
    script = Path(sys.executable).parent / "hwebserver"
    assert run_version([str(script)]) == expected


def test_the_request_path_a_worker_runs_is_the_form_this_run_tests():
    """The compiled run must test compiled code: a child Python (as every server process of
    the tests is started) loads the connection's module from the extension, and the plain
    run from the source."""
    probe = "import hwebserver.worker.http.protocol as p; print(p.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", probe], env=python_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.strip()
    assert loaded.endswith(".so") if COMPILED_RUN else loaded.endswith(".py"), loaded

"""The version a user sees (hwebserver --version, hwebserver.__version__) is the installed one."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from support import python_env

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
    expected = f"hwebserver {version('hwebserver')}"
    assert run_version([sys.executable, "-m", "hwebserver"]) == expected
    # The console script pip installs beside the interpreter says the same.
    script = Path(sys.executable).parent / "hwebserver"
    assert run_version([str(script)]) == expected

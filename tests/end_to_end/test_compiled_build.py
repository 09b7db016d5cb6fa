"""The compiled build as a user makes it: `HWEBSERVER_COMPILE=1 pip wheel .` in a fresh
environment (nothing of the project's venv to lean on), then that wheel installed and run; and
an editable install with the same switch set, which stays pure Python.

It downloads the build's requirements (mypy, the runtime dependencies; pip's cache makes it
quick after the first time): without a package index it is skipped, saying so. It runs once,
in the pass on the sources: the compiled pass tests the modules scripts/compile built."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from support import COMPILED_RUN, ROOT


def run(
    command: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def copy_of_checkout(target: Path) -> Path:
    """The tracked files, as they are now: pip builds in its source directory (build/)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.split(b"\0")):
        relative = os.fsdecode(name)
        if (ROOT / relative).is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            (target / relative).write_bytes((ROOT / relative).read_bytes())
    return target


@pytest.mark.skipif(COMPILED_RUN, reason="built once, in the run on the sources")
@pytest.mark.timeout(900)
def test_a_compiled_wheel_builds_in_a_fresh_environment_and_runs_compiled(tmp_path: Path) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = str(environment / "bin" / "python")
    env = {**os.environ, "HWEBSERVER_COMPILE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    index = run(
        [python, "-m", "pip", "download", "--no-deps", "-d", str(tmp_path), "mypy"], env, 120
    )
    if index.returncode != 0:
        pytest.skip(f"no package index to build from: {index.stderr.strip()[-300:]}")
    source = copy_of_checkout(tmp_path / "source")
    wheels = tmp_path / "wheels"
    command = [python, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(source)]
    build = run(command, env, 600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = wheels.glob("hwebserver-*.whl")
    assert f"cp{sys.version_info.major}{sys.version_info.minor}" in wheel.name  # not py3-none-any
    install = run([python, "-m", "pip", "install", "-q", str(wheel)], env, 300)
    assert install.returncode == 0, install.stderr[-3000:]
    script = str(environment / "bin" / "hwebserver")
    assert run([script, "--version"], env, 60).stdout.strip().endswith("(request path compiled)")
    # Editable, the switch set all the same: pure Python (an edit must take effect), and no
    # hook of the build imports mypyc, which this environment has not got.
    editable = [python, "-m", "pip", "install", "-q", "--no-deps", "-e", str(source)]
    install = run(editable, env, 300)
    assert install.returncode == 0, install.stderr[-3000:]
    assert run([script, "--version"], env, 60).stdout.strip().endswith("(pure Python)")

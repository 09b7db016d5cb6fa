"""The compiled build as a user makes it: `HWEBSERVER_COMPILE=1 pip wheel .` in a fresh
environment (nothing of the project's venv to lean on), then that wheel installed and run.

It downloads the build's requirements (mypy, the runtime dependencies; pip's cache makes it
quick after the first time), so it runs once, in the pass on the sources: the compiled pass
tests the same modules already built in place by scripts/compile."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from support import ROOT

COMPILED_RUN = os.environ.get("HWEBSERVER_TEST_COMPILED") == "1"


@pytest.mark.skipif(COMPILED_RUN, reason="built once, in the run on the sources")
@pytest.mark.timeout(600)
def test_a_compiled_wheel_builds_in_a_fresh_environment_and_runs_compiled(tmp_path: Path) -> None:
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = str(environment / "bin" / "python")
    wheels = tmp_path / "wheels"
    # The checkout copied: pip builds in the source directory (build/), not to be shared.
    source = tmp_path / "source"
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        target = source / os.fsdecode(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / os.fsdecode(name)).read_bytes())
    env = {**os.environ, "HWEBSERVER_COMPILE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    build = subprocess.run(
        [python, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(source)],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = wheels.glob("hwebserver-*.whl")
    assert f"cp{sys.version_info.major}{sys.version_info.minor}" in wheel.name  # not py3-none-any
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", str(wheel)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    version = subprocess.run(
        [str(environment / "bin" / "hwebserver"), "--version"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.stdout.strip().endswith("(request path compiled)"), version

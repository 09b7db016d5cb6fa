"""START_METHOD: with "spawn" no worker is ever forked from the supervisor (generation 0, a
reload, a crash's replacement): each runs the service's command line anew, so a module-level
os.getpid() taken at import is the pid that serves. Chosen by itself when hou is imported at
run(); also `hwebserver APP --start-method spawn`."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from supervision import alive
from support import APPS, ServerProcess, python_env, wait_for

from hwebserver.api.settings import validate


def loaded_by(srv: ServerProcess) -> tuple[int, int]:
    """(the pid that imported the service's module, the pid that serves the request)."""
    first, second = httpx.get(srv.url("/loaded-by"), timeout=30).text.split()
    return int(first), int(second)


def check_never_forked(srv: ServerProcess) -> None:
    """Generation 0, a reload and a crash's replacement each imported the module itself."""
    imported, serving = loaded_by(srv)
    assert imported == serving != srv.pid

    srv.signal(signal.SIGHUP)
    wait_for(lambda: loaded_by(srv)[1] != serving, timeout=30)
    imported, reloaded = loaded_by(srv)
    assert imported == reloaded

    with pytest.raises(httpx.HTTPError):
        httpx.get(srv.url("/crash"), timeout=30)  # the worker exits under the request
    wait_for(lambda: not alive(reloaded))
    imported, replacement = wait_for(lambda: loaded_by(srv), timeout=30)
    assert imported == replacement != reloaded

    logs = srv.logs()
    assert "forked worker" not in logs
    assert logs.count("spawned worker") == 3


def test_spawn_never_forks_a_worker(tmp_path):
    run_kwargs = {"settings": {"START_METHOD": "spawn"}, "verbosity": 1}  # Medium: each start
    with ServerProcess("reload_app.py", tmp_path, run_kwargs) as srv:
        check_never_forked(srv)


def test_fork_by_default_shares_the_module_the_supervisor_imported(tmp_path):
    with ServerProcess("reload_app.py", tmp_path, {"verbosity": 1}) as srv:
        imported, serving = loaded_by(srv)
        assert imported == srv.pid != serving
        assert "forked worker" in srv.logs()


def test_spawn_is_chosen_by_itself_when_hou_is_imported(tmp_path):
    (tmp_path / "hou.py").write_text("# stands for Houdini's module\n")
    script = tmp_path / "hython_service.py"
    script.write_text(
        "import runpy, sys\n"
        "import hou\n"
        f"runpy.run_path({str(APPS / 'reload_app.py')!r}, run_name='__main__')\n"
    )
    with ServerProcess(script, tmp_path) as srv:  # its directory, with hou.py, is on sys.path
        imported, serving = loaded_by(srv)
        assert imported == serving != srv.pid
        lines = [line for line in srv.logs().splitlines() if "START_METHOD" in line]
        assert len(lines) == 1, lines
        assert "INFO START_METHOD spawn: hou is imported" in lines[0]


def test_command_line_start_method(tmp_path):
    command = [sys.executable, "-m", "hwebserver", str(APPS / "reload_app.py"), "--port", "0"]
    with ServerProcess(
        APPS / "reload_app.py",
        tmp_path,
        command=[*command, "--start-method", "spawn", "--verbosity", "medium"],
    ) as srv:
        imported, serving = loaded_by(srv)
        assert imported == serving != srv.pid
        assert "spawned worker" in srv.logs()

    refused = subprocess.run(
        [*command, "--start-method", "vfork"],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "invalid choice: 'vfork'" in refused.stderr


def test_start_method_values_are_checked():
    assert validate({"START_METHOD": "spawn"}) == {"START_METHOD": "spawn"}
    with pytest.raises(ValueError, match="START_METHOD: expected one of fork, spawn"):
        validate({"START_METHOD": "forkserver"})


def test_help_lists_the_option(tmp_path: Path):
    shown = subprocess.run(
        [sys.executable, "-m", "hwebserver", "--help"],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "--start-method {fork,spawn}" in shown.stdout

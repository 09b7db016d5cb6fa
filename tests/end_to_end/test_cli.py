"""python -m hwebserver APP: options, --help, and reload re-running the same command line."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import psutil
from clientloop import ClientLoop
from supervision import copy_app, edit, worker_pids
from support import ServerProcess, python_env, wait_for


def test_help_documents_every_option_and_signal():
    result = subprocess.run(
        [sys.executable, "-m", "hwebserver", "--help"],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    for option in (
        "--port",
        "--max-port",
        "--allow-system-port",
        "--address",
        "--ports",
        "--workers",
        "--reload",
        "--debug",
        "--max-num-threads",
        "--settings",
        "--verbosity",
        "--max-request-size",
        "--max-in-memory-file-upload-size",
    ):
        assert option in result.stdout
    for name in ("HUP", "TERM", "INT", "QUIT", "TTIN", "TTOU", "USR1", "NOTIFY_SOCKET"):
        assert name in result.stdout


def test_command_line_serves_an_app_file_and_reloads_it(tmp_path):
    script = copy_app(tmp_path)
    command = [sys.executable, "-m", "hwebserver", str(script), "--port", "0"]
    command += ["--workers", "2", "--verbosity", "medium"]
    with ServerProcess(script, tmp_path, command=command) as srv:
        wait_for(lambda: len(worker_pids(srv)) == 2)
        with ClientLoop(srv.url("/version")) as loop:
            loop.wait_for_text(lambda text: text.startswith("v1 "))
            edit(script, 'VERSION = "v1"', 'VERSION = "v2"')
            srv.signal(signal.SIGHUP)
            loop.wait_for_text(lambda text: text.startswith("v2 "))
        assert loop.failures == []
        # The new workers run the same command line (polled: the old generation may still be
        # exiting, and an exited worker has no command line any more).
        expected = ["-m", "hwebserver", str(script)]

        def new_workers_run_the_same_command() -> bool:
            try:
                lines = [psutil.Process(pid).cmdline()[1:4] for pid in worker_pids(srv)]
            except psutil.NoSuchProcess:
                return False
            return len(lines) == 2 and all(line == expected for line in lines)

        wait_for(new_workers_run_the_same_command)


def test_command_line_app_as_module_name(tmp_path):
    copy_app(tmp_path, "modservice.py")
    command = [sys.executable, "-m", "hwebserver", "modservice", "--port", "0"]
    with ServerProcess(tmp_path / "modservice.py", tmp_path, command=command) as srv:
        assert httpx.get(srv.url("/version"), timeout=30).text.startswith("v1 ")


def test_command_line_missing_app_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "hwebserver", str(tmp_path / "nowhere.py")],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "no such file" in result.stderr

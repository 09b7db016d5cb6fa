"""With run(in_background=False) handlers run in worker processes. A stop tool that sends
SIGTERM (or SIGINT) to the pid a handler reported stops the whole service gracefully, as it
would stop hython; a worker that crashes or is killed with -9 is still replaced."""

from __future__ import annotations

import concurrent.futures
import os
import signal
from pathlib import Path

import httpx
import psutil
import pytest
from support import ServerProcess, wait_for


def worker_pids(srv: ServerProcess) -> set[int]:
    return {child.pid for child in psutil.Process(srv.pid).children() if child.status() != "zombie"}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_to_a_worker_stops_the_whole_service(tmp_path: Path, signum: int) -> None:
    # One worker, so that the request in flight is known to be inside the worker signalled.
    with ServerProcess("echo_app.py", tmp_path, {"workers": 1}) as srv:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(httpx.get, srv.url("/sleep?s=2"), timeout=30)
            wait_for(lambda: httpx.get(srv.url("/peak")).text == "1")  # it is in the handler
            handler_pid = int(httpx.get(srv.url("/pid")).text)  # what a plugin reports
            workers = worker_pids(srv)
            assert workers == {handler_pid}
            os.kill(handler_pid, signum)
            assert srv.wait(30) == 0  # the supervisor, the process that called run()
            answer = in_flight.result(30)  # finished, not cut
        assert answer.status_code == 200 and answer.text.startswith("slept")
        name = signal.Signals(signum).name
        assert f"shutting down ({name} to worker" in srv.logs()
        assert "exited unexpectedly" not in srv.logs()
        wait_for(lambda: not any(psutil.pid_exists(pid) for pid in workers))


def test_a_worker_killed_with_sigkill_is_replaced(tmp_path: Path) -> None:
    with ServerProcess("echo_app.py", tmp_path, {"workers": 1}) as srv:
        victim = int(httpx.get(srv.url("/pid")).text)
        os.kill(victim, signal.SIGKILL)
        replacement = wait_for(
            lambda: (pid := _pid_or_none(srv)) is not None and pid != victim and pid, timeout=30
        )
        assert replacement != victim
        assert srv.proc is not None and srv.proc.poll() is None  # the service goes on


def _pid_or_none(srv: ServerProcess) -> int | None:
    try:
        return int(httpx.get(srv.url("/pid"), timeout=5).text)
    except httpx.HTTPError:
        return None

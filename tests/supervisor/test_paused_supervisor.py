"""A supervisor that was paused (SIGSTOP, a frozen cgroup: `docker pause`, `systemctl freeze`,
live migration) judges its workers on what they said, not on the time it could not listen:
no healthy worker is killed when it resumes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import psutil
from supervision import copy_app, worker_pids
from support import ServerProcess, wait_for

WORKER_TIMEOUT = 2.0
PAUSE = 3 * WORKER_TIMEOUT


def start(tmp_path: Path) -> ServerProcess:
    kwargs = {"verbosity": 1, "workers": 2, "settings": {"WORKER_TIMEOUT": WORKER_TIMEOUT}}
    return ServerProcess(copy_app(tmp_path), tmp_path, kwargs)


def serving(srv: ServerProcess) -> set[int]:
    wait_for(lambda: "serving with 2 worker(s)" in srv.logs(), timeout=30)
    return wait_for(lambda: len(worker_pids(srv)) == 2 and worker_pids(srv))


def pause(pids: list[int], seconds: float) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def assert_untouched(srv: ServerProcess, workers: set[int]) -> None:
    """Long enough after the resume for the supervisor to have judged every deadline."""
    time.sleep(2 * WORKER_TIMEOUT)
    assert httpx.get(srv.url("/version"), timeout=30).status_code == 200
    logs = srv.logs()
    assert worker_pids(srv) == workers, logs
    assert "sent no heartbeat" not in logs, logs
    assert "Current thread" not in logs, logs  # no stack dump
    assert "no live worker" not in logs, logs


def test_a_stopped_supervisor_keeps_its_healthy_workers_when_it_resumes(tmp_path):
    with start(tmp_path) as srv:
        workers = serving(srv)
        pause([srv.pid], PAUSE)
        assert_untouched(srv, workers)
        assert "supervisor loop stalled" in srv.logs()


def test_a_frozen_process_tree_keeps_its_workers_when_it_thaws(tmp_path):
    with start(tmp_path) as srv:
        workers = serving(srv)
        tree = [srv.pid, *(child.pid for child in psutil.Process(srv.pid).children(True))]
        pause(tree, PAUSE)
        assert_untouched(srv, workers)


def test_a_worker_silent_after_the_resume_is_still_replaced(tmp_path):
    """The fresh deadline is a deadline: a worker that stays frozen is dumped and replaced."""
    with start(tmp_path) as srv:
        workers = serving(srv)
        frozen = min(workers)
        os.kill(frozen, signal.SIGSTOP)
        pause([srv.pid], PAUSE)
        wait_for(lambda: f"worker {frozen} (generation 0) sent no heartbeat" in srv.logs(), 30)
        wait_for(lambda: frozen not in worker_pids(srv) and len(worker_pids(srv)) == 2, 30)

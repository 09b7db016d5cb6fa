"""Crash respawn: a worker that had booted is replaced at once however often it dies, the
crash backoff is for workers dying before READY (per slot, the wait logged is the wait
kept), the first start survives kills from outside, and a time with no live worker is an
error in the log."""

from __future__ import annotations

import datetime
import os
import re
import signal
import time
from pathlib import Path

import httpx
from supervision import worker_pids
from support import ServerProcess, wait_for

APP = "boot_app.py"
# A SIGKILLed worker is answering again within this (a fork and a boot, on a busy machine);
# with the old crash backoff the sixth kill in a row waited 6.4 s before even starting one.
REPLACED_WITHIN = 3.0
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def boot_app(tmp_path: Path, **run_kwargs: object) -> ServerProcess:
    return ServerProcess(
        APP, tmp_path, {"verbosity": 1, **run_kwargs}, env={"BOOT_CONTROL": str(tmp_path)}
    )


def ready_workers(srv: ServerProcess, count: int) -> set[int]:
    """Once the first `count` workers all said READY: the worker pids."""
    wait_for(lambda: f"serving with {count} worker(s)" in srv.logs(), timeout=30)
    return wait_for(lambda: len(worker_pids(srv)) == count and worker_pids(srv))


def serving_pid(srv: ServerProcess, timeout: float = 30.0) -> int:
    """The pid of the worker answering a request on a new connection."""
    response = httpx.get(srv.url("/version"), headers={"Connection": "close"}, timeout=timeout)
    assert response.status_code == 200
    return int(response.text.split()[1])


def seconds_until_answered_without(srv: ServerProcess, victim: int) -> float:
    """Kill `victim` now; the time until a request on a new connection is answered by
    another worker (a connection made meanwhile waits in the listen backlog)."""
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: serving_pid(srv) != victim, timeout=60)
    return time.monotonic() - killed


def booting_pids(control: Path) -> set[int]:
    return {int(path.name.split("-")[1]) for path in control.glob("booting-*")}


def log_time(line: str) -> float:
    match = LOG_TIME.match(line)
    assert match, line
    return datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def test_a_worker_killed_soon_after_ready_is_replaced_at_once_every_time(tmp_path):
    with boot_app(tmp_path) as srv:
        for _kill in range(6):
            victim = serving_pid(srv)  # a new worker, just READY (but the first one)
            assert seconds_until_answered_without(srv, victim) < REPLACED_WITHIN, srv.logs()
        assert srv.logs().count("exited unexpectedly (signal SIGKILL); replacing it") == 6


def test_crash_loop_at_start_up_backs_off_per_slot_and_keeps_the_wait_it_logs(tmp_path):
    with boot_app(tmp_path, workers=2) as srv:
        first, second = sorted(ready_workers(srv, 2))
        # From now on a booting worker exits with code 3: the first slot crash-loops.
        (tmp_path / "exit-at-boot").write_text("3")
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: [wait for _, wait in crash_waits(srv)][-1:] == [3.2], timeout=60)
        (tmp_path / "exit-at-boot").unlink()
        # The second slot's READY worker is replaced at once, whatever the first slot's wait.
        assert seconds_until_answered_without(srv, second) < REPLACED_WITHIN, srv.logs()
        last_crash, last_wait = crash_waits(srv)[-1]
        wait_for(lambda: forks(srv)[-1] >= last_crash + last_wait - 0.05, timeout=30)
        assert [wait for _, wait in crash_waits(srv)] == [0.4, 0.8, 1.6, 3.2]
        for when, wait in crash_waits(srv):
            # The slot's next worker starts when the log said, whatever happened meanwhile.
            assert any(when + wait - 0.05 <= fork <= when + wait + 1.0 for fork in forks(srv)), (
                f"no worker started {wait}s after {when}:\n{srv.logs()}"
            )


def crash_waits(srv: ServerProcess) -> list[tuple[float, float]]:
    """(when, the wait logged) of each exit code 3 followed by a wait."""
    pattern = re.compile(r"exit code 3\); replacing it in (\d+\.\d)s")
    return [
        (log_time(line), float(found.group(1)))
        for line in srv.logs().splitlines()
        if (found := pattern.search(line))
    ]


def forks(srv: ServerProcess) -> list[float]:
    return [log_time(line) for line in srv.logs().splitlines() if "forked worker" in line]


def test_a_first_worker_killed_while_it_boots_is_retried(tmp_path):
    (tmp_path / "hang-once").write_text("")
    with boot_app(tmp_path) as srv:  # the port is open; the first worker hangs in start-up
        (victim,) = wait_for(lambda: booting_pids(tmp_path))
        os.kill(victim, signal.SIGKILL)
        assert serving_pid(srv) != victim
        logs = srv.logs()
        assert f"worker {victim} (generation 0) exited unexpectedly (signal SIGKILL)" in logs
        assert "killed from outside, not a failure of the application" in logs
        assert "failed to start" not in logs


def test_first_workers_killed_while_booting_again_and_again_end_the_start(tmp_path):
    """Not retried forever: after FIRST_START_RETRIES (5) retries of one slot, each logged,
    run() gives up as for a start-up failure."""
    (tmp_path / "hang-always").write_text("")
    srv = boot_app(tmp_path)
    try:
        srv.start()
        killed: set[int] = set()
        for _attempt in range(6):
            (victim,) = wait_for(lambda: booting_pids(tmp_path) - killed, timeout=30)
            killed.add(victim)
            os.kill(victim, signal.SIGKILL)
        assert srv.wait(60) == 1
        logs = srv.logs()
        assert [f"(retry {n} of 5)" in logs for n in range(1, 6)] == [True] * 5
        assert "OperationFailed: the workers failed to start" in logs
        assert "killed before READY 6 times in a row" in logs
    finally:
        srv.stop()


def test_an_exception_at_import_in_a_first_worker_stops_the_start_with_its_traceback(tmp_path):
    (tmp_path / "missing_model.py").write_text('raise RuntimeError("the model file is missing")\n')
    (tmp_path / "import-at-boot").write_text("missing_model")
    srv = boot_app(tmp_path, workers=2)
    try:
        srv.start(wait=False)
        assert srv.wait(60) == 1
        logs = srv.logs()
        assert "failed to start:\nTraceback" in logs
        assert 'missing_model.py", line 1' in logs
        assert "RuntimeError: the model file is missing" in logs
        assert "OperationFailed: the workers failed to start" in logs
        assert "killed from outside" not in logs
    finally:
        srv.stop()


def test_a_first_worker_exiting_on_its_own_stops_the_start(tmp_path):
    (tmp_path / "exit-at-boot").write_text("3")
    srv = boot_app(tmp_path)
    try:
        srv.start(wait=False)
        assert srv.wait(60) == 1
        logs = srv.logs()
        assert "OperationFailed: the workers failed to start" in logs
        assert "exited unexpectedly (exit code 3)" in logs
    finally:
        srv.stop()


def test_a_time_with_no_live_worker_is_logged_at_error_when_it_starts_and_ends(tmp_path):
    with boot_app(tmp_path, workers=2) as srv:
        one = min(ready_workers(srv, 2))
        os.kill(one, signal.SIGKILL)
        wait_for(lambda: len(worker_pids(srv) - {one}) == 2, timeout=30)
        assert serving_pid(srv)
        assert "no live worker" not in srv.logs()  # the other one served meanwhile
        both = worker_pids(srv)
        for pid in both:
            os.kill(pid, signal.SIGKILL)
        assert serving_pid(srv) not in both
        wait_for(lambda: "a worker serves again" in srv.logs(), timeout=30)
        logs = srv.logs()
    assert re.search(r" ERROR no live worker: new connections wait in the listen backlog", logs)
    assert re.search(r" ERROR a worker serves again, after \d+\.\d\ds with no live worker", logs)
    assert logs.index("ERROR no live worker") < logs.index("ERROR a worker serves again")


def test_replacements_killed_from_outside_while_booting_are_replaced_without_backoff(tmp_path):
    """Eight kill -9 in a row, each on a booting replacement: with the crash backoff the
    eighth replacement would start 25.6 s later; a kill says nothing of the application's
    code, so the service serves again soon after the last kill, and the log says why."""
    with boot_app(tmp_path) as srv:
        victim = serving_pid(srv)
        killed: set[int] = set()
        for _kill in range(8):
            (tmp_path / "hang-once").write_text("")  # the next replacement hangs as it boots
            os.kill(victim, signal.SIGKILL)
            killed.add(victim)
            (victim,) = wait_for(lambda: booting_pids(tmp_path) - killed, timeout=30)
        os.kill(victim, signal.SIGKILL)
        last_kill = time.monotonic()
        assert serving_pid(srv, timeout=60) not in killed | {victim}
        assert time.monotonic() - last_kill < 10.0, srv.logs()
        logs = srv.logs()
        assert (
            logs.count("while booting: killed from outside, not a failure of the application") == 8
        )
        # No wait longer than the spacing of starts (the backoff's were 0.4 s, 0.8 s, ...).
        assert max(float(w) for w in re.findall(r"replacing it in (\d+\.\d)s", logs)) <= 1.0

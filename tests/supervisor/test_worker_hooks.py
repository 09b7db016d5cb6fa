"""@hwebserver.onWorkerStart / @onWorkerStop, through real service processes: every worker runs
its start hooks once before its first request (generation 0 and a reload), a failing start
hook fails that worker's boot, stop hooks run after the last request on a reload's drain, on
TERM and when an in-process server stops, and a raising or overrunning stop hook is logged
without stopping the drain."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import httpx
import pytest
from supervision import worker_pids
from support import ServerProcess, python_env, wait_for

import hwebserver


def hooks_service(tmp_path: Path, **run_kwargs: object) -> ServerProcess:
    return ServerProcess(
        "hooks_app.py",
        tmp_path,
        run_kwargs,
        env={"HOOKS_LOG": str(tmp_path / "hooks.log"), "HOOKS_CONTROL": str(tmp_path)},
    )


def hook_lines(tmp_path: Path) -> list[tuple[str, int]]:
    path = tmp_path / "hooks.log"
    if not path.exists():
        return []
    return [
        (what, int(pid))
        for what, pid in (line.split() for line in path.read_text().splitlines() if line)
    ]


def runs_of(tmp_path: Path, pid: int) -> list[str]:
    return [what for what, each in hook_lines(tmp_path) if each == pid]


def answers_of_every_worker(srv: ServerProcess, pids: set[int]) -> dict[int, str]:
    """/hooked from each worker in `pids` (new connections until every one answered)."""
    answers: dict[int, str] = {}

    def every_worker_answered() -> bool:
        text = httpx.get(srv.url("/hooked"), timeout=10).text
        answers[int(text.split()[0])] = text
        return set(answers) >= pids

    wait_for(every_worker_answered, timeout=30, interval=0)
    return answers


def serving_pid(srv: ServerProcess) -> int:
    """The pid of a worker that serves (once it does: the port accepts before that)."""
    return int(httpx.get(srv.url("/hooked"), timeout=30).text.split()[0])


def workers_but(srv: ServerProcess, count: int, old: frozenset[int] = frozenset()) -> set[int]:
    """`count` workers, none of them in `old`."""

    def found() -> set[int] | None:
        pids = worker_pids(srv)
        return pids if len(pids) == count and not pids & old else None

    return wait_for(found, timeout=30)


def check_started_once_before_serving(srv: ServerProcess, tmp_path: Path, pids: set[int]) -> None:
    for pid, answer in answers_of_every_worker(srv, pids).items():
        # Its start hooks had run in this very process, each once, when it served.
        assert answer == f"{pid} {pid} 1 1"
        assert runs_of(tmp_path, pid)[:2] == ["start-plain", "start-async"]  # in their order
    starts = Counter(pid for what, pid in hook_lines(tmp_path) if what.startswith("start"))
    assert all(starts[pid] == 2 for pid in pids)


def test_every_worker_runs_its_start_hooks_once_before_its_first_request(tmp_path):
    with hooks_service(tmp_path, workers=2) as srv:
        first = workers_but(srv, 2)
        check_started_once_before_serving(srv, tmp_path, first)

        srv.signal(signal.SIGHUP)
        second = workers_but(srv, 2, frozenset(first))
        check_started_once_before_serving(srv, tmp_path, second)
        # The old generation ran its stop hooks as it drained, after its last request.
        for pid in first:
            wait_for(lambda pid=pid: "stop-async" in runs_of(tmp_path, pid))
            assert runs_of(tmp_path, pid)[2:] == ["stop-plain", "stop-async"]
        assert all("stop-plain" not in runs_of(tmp_path, pid) for pid in second)


def test_a_start_hook_that_raises_on_a_reload_leaves_the_old_workers_serving(tmp_path):
    with hooks_service(tmp_path) as srv:
        old = serving_pid(srv)
        (tmp_path / "fail-start").write_text("")
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "reload failed" in srv.logs(), timeout=30)
        assert httpx.get(srv.url("/hooked"), timeout=10).text == f"{old} {old} 1 1"
        logs = srv.logs()
        # The hook's own traceback, from its frame, under the reload it failed.
        assert "RuntimeError: the database is down" in logs
        assert 'hooks_app.py", line' in logs and "in open_database" in logs
        assert "generation 0 keeps serving" in logs
        assert worker_pids(srv) == {old}


def test_a_start_hook_that_raises_at_the_first_start_fails_run(tmp_path):
    (tmp_path / "fail-start").write_text("")
    logs = hooks_service(tmp_path).start_and_fail(timeout=60)
    failure = [line for line in logs.splitlines() if line.startswith("hwebserver.api.errors")]
    assert len(failure) == 1, logs
    assert "OperationFailed: the workers failed to start" in failure[0]
    assert "RuntimeError: the database is down" in failure[0]
    assert "in open_database" in logs  # the traceback, logged once by the supervisor


def test_stop_hooks_run_on_term_after_the_last_request(tmp_path):
    with hooks_service(tmp_path) as srv:
        pid = serving_pid(srv)
        assert httpx.get(srv.url("/hooked"), timeout=10).text == f"{pid} {pid} 1 1"
        srv.signal(signal.SIGTERM)
        assert srv.wait(30) == 0
    assert runs_of(tmp_path, pid) == ["start-plain", "start-async", "stop-plain", "stop-async"]


def test_a_raising_stop_hook_is_logged_and_an_overrunning_one_cut(tmp_path):
    (tmp_path / "stop-raises").write_text("")
    (tmp_path / "stop-hangs").write_text("")
    with hooks_service(tmp_path, settings={"GRACEFUL_TIMEOUT": 1}) as srv:
        pid = serving_pid(srv)
        srv.signal(signal.SIGTERM)
        assert srv.wait(30) == 0  # within GRACEFUL_TIMEOUT twice and the margin, not a minute
        logs = srv.logs()
    # The hook after the raising one ran; the hanging one was cut.
    assert runs_of(tmp_path, pid)[2:] == ["stop-plain", "stop-async", "stop-hangs"]
    assert "onWorkerStop hook flaky_close raised RuntimeError" in logs
    assert "RuntimeError: the connection was already closed" in logs
    assert "in flaky_close" in logs
    assert "onWorkerStop hook hanging_stop still ran after 1s (GRACEFUL_TIMEOUT): cut" in (logs)
    assert "did not finish in time" not in logs  # the worker itself cut it, not the supervisor


BACKGROUND_SCRIPT = """
import os, sys, urllib.request
import hwebserver

log = open(sys.argv[1], "a", buffering=1)

@hwebserver.onWorkerStart
def start():
    log.write(f"start {os.getpid()}\\n")

@hwebserver.onWorkerStop
async def stop():
    log.write(f"stop {os.getpid()}\\n")

@hwebserver.urlHandler("/pid")
def pid(request):
    return str(os.getpid())

ports = {}
hwebserver.run(port=0, in_background=True, port_callback=ports.__setitem__)
answer = urllib.request.urlopen(f"http://127.0.0.1:{ports['main']}/pid").read().decode()
log.write(f"served {answer}\\n")
if sys.argv[2] == "shutdown":
    hwebserver.requestShutdown()
    import time
    time.sleep(1)
    log.write(f"after {os.getpid()}\\n")
"""


@pytest.mark.parametrize("how", ["shutdown", "exit"])
def test_an_in_background_server_runs_its_hooks_once_in_the_calling_process(tmp_path, how):
    script = tmp_path / "background.py"
    script.write_text(textwrap.dedent(BACKGROUND_SCRIPT))
    log = tmp_path / "hooks.log"
    done = subprocess.run(
        [sys.executable, str(script), str(log), how],
        env=python_env(),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    pid = log.read_text().split()[1]
    expected = [f"start {pid}", f"served {pid}", f"stop {pid}"]
    if how == "shutdown":
        expected.append(f"after {pid}")  # requestShutdown() ran them, not the exit
    assert log.read_text().splitlines() == expected


FAILING_BACKGROUND_SCRIPT = """
import socket
import hwebserver

@hwebserver.onWorkerStart
def open_database():
    raise RuntimeError("the database is down")

ports = {}
try:
    hwebserver.run(port=0, in_background=True, port_callback=ports.__setitem__)
except hwebserver.OperationFailed as exc:
    print("run() raised:", exc)
with socket.socket() as probe:  # the port was released
    print("port free:", probe.connect_ex(("127.0.0.1", ports["main"])) != 0)
"""


def test_a_failing_start_hook_makes_an_in_background_run_raise(tmp_path):
    script = tmp_path / "failing.py"
    script.write_text(textwrap.dedent(FAILING_BACKGROUND_SCRIPT))
    done = subprocess.run(
        [sys.executable, str(script)], env=python_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "run() raised: the server failed to start: RuntimeError: the database is down",
        "port free: True",
    ]


def test_a_hook_that_needs_arguments_is_refused_when_registered():
    def needs_request(request: object) -> None: ...

    with pytest.raises(TypeError, match=r"needs_request\(\) is called without arguments"):
        hwebserver.onWorkerStart(needs_request)
    with pytest.raises(TypeError, match="expects a function"):
        hwebserver.onWorkerStop("not a function")  # type: ignore[arg-type]


def test_without_a_supervisor_hooks_run_once_per_image_and_stop_hooks_at_exit(tmp_path):
    """run(supervisor=False): the calling process serves, so it runs the start hooks itself
    (once, and again in the image a reload re-executes), and the stop hooks before each
    re-execution and when TERM ends it."""
    with hooks_service(tmp_path, supervisor=False) as srv:
        pid = srv.pid
        assert httpx.get(srv.url("/hooked"), timeout=10).text == f"{pid} {pid} 1 1"
        srv.signal(signal.SIGHUP)
        wait_for(lambda: runs_of(tmp_path, pid).count("start-plain") == 2, timeout=60)
        assert httpx.get(srv.url("/hooked"), timeout=10).text == f"{pid} {pid} 1 1"
        srv.signal(signal.SIGTERM)
        assert srv.wait(30) == 0
    runs = runs_of(tmp_path, pid)
    assert runs == ["start-plain", "start-async", "stop-plain", "stop-async"] * 2, runs

"""Stopping: graceful, immediate, from a handler, and the supervisor dying under its workers."""

from __future__ import annotations

import signal
import threading

import httpx
import pytest
from supervision import alive, bindable, copy_app, worker_pids
from support import ServerProcess, wait_for

import hwebserver


def slow_request_in_thread(url: str) -> tuple[threading.Thread, dict[str, object]]:
    result: dict[str, object] = {}

    def send() -> None:
        try:
            result["response"] = httpx.get(url, timeout=60)
        except httpx.HTTPError as exc:
            result["error"] = exc

    thread = threading.Thread(target=send)
    thread.start()
    return thread, result


def wait_in_flight(srv: ServerProcess) -> None:
    wait_for(lambda: "slow request started" in srv.logs(), timeout=30)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_finishes_the_request_in_flight_and_exits_0(tmp_path, workers):
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"workers": workers, "verbosity": 1}) as srv:
        wait_for(lambda: len(worker_pids(srv)) == workers)
        pids = worker_pids(srv)
        thread, result = slow_request_in_thread(srv.url("/slow?s=2"))
        wait_in_flight(srv)
        srv.signal(signal.SIGTERM)
        thread.join(timeout=60)
        assert "error" not in result, result
        response = result["response"]
        assert isinstance(response, httpx.Response)
        assert response.status_code == 200 and response.text == "v1 slept"
        assert srv.wait(60) == 0
        assert not any(alive(pid) for pid in pids)
        assert bindable(srv.port)


def test_request_shutdown_in_a_worker_stops_every_process(tmp_path):
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"workers": 2, "verbosity": 1}) as srv:
        pids = wait_for(lambda: len(worker_pids(srv)) == 2 and worker_pids(srv))
        assert httpx.get(srv.url("/shutdown"), timeout=30).text == "shutting down"
        assert srv.wait(60) == 0
        assert not any(alive(pid) for pid in pids)
        assert "requestShutdown() in worker" in srv.logs()


def test_sigkill_of_the_supervisor_leaves_no_worker_and_frees_the_port(tmp_path):
    script = copy_app(tmp_path)
    kwargs = {"workers": 2, "reload_source_changes": True, "verbosity": 1}
    with ServerProcess(script, tmp_path, kwargs) as srv:
        wait_for(lambda: len(worker_pids(srv)) == 2 and "watching" in srv.logs())
        assert httpx.get(srv.url("/version"), timeout=30).status_code == 200
        children = srv.descendants()
        assert len(children) == 3  # two workers and the file watcher
        srv.signal(signal.SIGKILL)
        wait_for(lambda: not any(alive(child.pid) for child in children), timeout=5)
        wait_for(lambda: bindable(srv.port), timeout=2)


def test_graceful_timeout_cuts_what_remains(tmp_path):
    script = copy_app(tmp_path)
    kwargs = {"verbosity": 1, "settings": {"GRACEFUL_TIMEOUT": 1}}
    with ServerProcess(script, tmp_path, kwargs) as srv:
        wait_for(lambda: worker_pids(srv))
        thread, result = slow_request_in_thread(srv.url("/slow?s=120"))
        wait_in_flight(srv)
        srv.signal(signal.SIGTERM)
        assert srv.wait(30) == 0
        thread.join(timeout=30)
        assert "error" in result
        assert "GRACEFUL_TIMEOUT (1s) reached, cutting 1 request(s)" in srv.logs()


def test_second_sigint_stops_at_once(tmp_path):
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"verbosity": 1}) as srv:
        wait_for(lambda: worker_pids(srv))
        thread, result = slow_request_in_thread(srv.url("/slow?s=120"))
        wait_in_flight(srv)
        srv.signal(signal.SIGINT)
        wait_for(lambda: "shutting down (SIGINT)" in srv.logs())
        assert srv.proc is not None and srv.proc.poll() is None  # still finishing the request
        srv.signal(signal.SIGINT)
        assert srv.wait(30) == 0
        thread.join(timeout=30)
        assert "error" in result  # cut, as asked
        assert "stopping at once, cutting 1 request(s)" in srv.logs()


def test_sigquit_stops_at_once(tmp_path):
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"verbosity": 1}) as srv:
        pids = wait_for(lambda: worker_pids(srv))
        thread, result = slow_request_in_thread(srv.url("/slow?s=120"))
        wait_in_flight(srv)
        srv.signal(signal.SIGQUIT)
        assert srv.wait(30) == 0
        thread.join(timeout=30)
        assert "error" in result
        assert "stopping at once, cutting 1 request(s)" in srv.logs()
        assert not any(alive(pid) for pid in pids)


def test_sigusr1_reopens_log_files_in_every_worker(tmp_path):
    script = copy_app(tmp_path)
    log_file = tmp_path / "access.log"
    script.write_text(
        script.read_text().replace(
            'if __name__ == "__main__":\n',
            f"hwebserver.setSettingsForPort({{'LOG_FILE': {str(log_file)!r}}})\n\n"
            'if __name__ == "__main__":\n',
        )
    )
    with ServerProcess(script, tmp_path, {"workers": 2, "verbosity": 1}) as srv:
        wait_for(lambda: len(worker_pids(srv)) == 2)
        assert httpx.get(srv.url("/before-rotation"), timeout=30).status_code == 404
        wait_for(lambda: log_file.exists() and "/before-rotation" in log_file.read_text())
        rotated = tmp_path / "access.log.1"
        log_file.rename(rotated)  # what logrotate does
        srv.signal(signal.SIGUSR1)
        wait_for(lambda: srv.logs().count("reopened its log files") == 2)
        for _ in range(10):  # on new connections: both workers answer some
            assert httpx.get(srv.url("/after-rotation"), timeout=30).status_code == 404
        wait_for(lambda: log_file.exists() and log_file.read_text().count("/after-rotation") == 10)
        assert "/after-rotation" not in rotated.read_text()


def test_workers_that_cannot_start_make_run_raise(tmp_path):
    """A failure while the first workers start (here an ASGI lifespan startup) is not
    retried forever: run() raises OperationFailed with the worker's traceback logged."""
    srv = ServerProcess("asgi_lifespan_fails.py", tmp_path, {"workers": 2})
    try:
        srv.start(wait=False)
        assert srv.wait(60) == 1
        logs = srv.logs()
        assert "OperationFailed: the workers failed to start" in logs
        assert "RuntimeError: the model failed to load" in logs
        assert "failed to start:\nTraceback" in logs
    finally:
        srv.stop()


def test_in_background_keeps_the_in_process_thread_mode():
    ports: dict[str, int] = {}
    hwebserver.run(port=0, in_background=True, port_callback=ports.__setitem__)
    try:
        response = httpx.get(f"http://127.0.0.1:{ports['main']}/no-such-page", timeout=10)
        assert response.status_code == 404
        assert threading.active_count() > 1  # served by a thread of this process
    finally:
        hwebserver.requestShutdown()
        from hwebserver.worker.process import current

        wait_for(lambda: current.get() is None, timeout=20)

"""What the log tells an operator: a broken edit once, with its traceback, tied to the reload it
failed; a worker the supervisor had to kill is logged as what happened to it, not as a SIGKILL
from nowhere; a handler's traceback starts at the handler's own code."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import sys

import httpx
from supervision import copy_app, edit, worker_pids
from support import APPS, ROOT, ServerProcess, wait_for

from hwebserver.testing import free_port

SERVER_PACKAGE = str(ROOT / "hwebserver") + "/"


def test_broken_edit_is_one_log_entry_with_its_traceback(tmp_path):
    script = tmp_path / "service.py"
    shutil.copy(APPS / "quickstart_app.py", script)
    port = str(free_port())
    command = [sys.executable, "-m", "hwebserver", str(script), "--port", port]
    command += ["--verbosity", "medium"]  # the lifecycle too: the failed worker's exit
    with ServerProcess(script, tmp_path, command=command) as srv:
        wait_for(lambda: "serving with 1 worker(s)" in srv.logs(), timeout=30)
        edit(script, "def hello(request):", "def hello(request:")
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "reload failed (generation 1)" in srv.logs(), timeout=60)
        # The broken generation's worker is gone, and its end is logged.
        wait_for(lambda: re.search(r"worker \d+ \(generation 1\) (ended|exited)", srv.logs()), 30)
        logs = srv.logs()
    lines = logs.splitlines()
    [at] = [i for i, line in enumerate(lines) if "reload failed (generation 1)" in line]
    assert " ERROR " in lines[at]
    assert re.search(r"failed to start: SyntaxError: .+ \(service\.py, line 7\)", lines[at])
    assert "generation 0 keeps serving" in lines[at]
    # Its traceback follows at once, as Python prints a SyntaxError: file, line, caret.
    assert lines[at + 1].startswith(f'  File "{script}", line '), logs
    assert lines[at + 2].strip() == "def hello(request:", logs
    assert lines[at + 4].startswith("SyntaxError: "), logs
    # Once: not also as the worker's raw stderr, nor again when its worker ends.
    assert logs.count("def hello(request:") == 1, logs
    assert logs.count("SyntaxError") == 2, logs  # the summary and the traceback's last line
    assert SERVER_PACKAGE not in logs  # no frame of the command line's import
    assert "SIGKILL" not in logs, logs
    assert " WARNING " not in logs, logs


def test_exit_before_run_in_a_reload_is_one_entry(tmp_path):
    script = copy_app(tmp_path)
    with ServerProcess(script, tmp_path, {"workers": 2, "verbosity": 1}) as srv:
        wait_for(lambda: "serving with 2 worker(s)" in srv.logs(), timeout=30)
        edit(script, 'VERSION = "v1"', 'VERSION = "v2"\nraise SystemExit(0)')
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "reload failed (generation 1)" in srv.logs(), timeout=60)
        wait_for(lambda: len(worker_pids(srv)) == 2, timeout=30)  # the broken ones are gone
        assert httpx.get(srv.url("/version"), timeout=30).text.startswith("v1")
        logs = srv.logs()
    [failed] = [line for line in logs.splitlines() if "reload failed (" in line]
    assert "exited without calling hwebserver.run()" in failed
    assert "SIGKILL" not in logs, logs
    assert " WARNING " not in logs, logs


def test_worker_killed_past_its_graceful_timeout_is_logged_as_such(tmp_path):
    kwargs = {"workers": 1, "verbosity": 1, "settings": {"GRACEFUL_TIMEOUT": 1}}
    with ServerProcess(copy_app(tmp_path), tmp_path, kwargs) as srv:
        [worker] = wait_for(lambda: worker_pids(srv), timeout=30)
        with socket.create_connection(("127.0.0.1", srv.port)) as client:
            client.sendall(b"GET /block?s=120 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            wait_for(lambda: f"blocking request started in {worker}" in srv.logs(), timeout=30)
            srv.signal(signal.SIGTERM)
            ended = f"worker {worker} (generation 0) ended by the supervisor"
            wait_for(lambda: ended in srv.logs(), timeout=60)
        logs = srv.logs()
    assert f"worker {worker} (generation 0) did not finish in time: killing it" in logs
    assert f"{ended}: it did not finish in time" in logs
    assert "SIGKILL" not in logs, logs


# -- a handler's traceback: from its own first frame -----------------------------------------


def assert_starts_in_the_app(traceback_text: str, function: str) -> None:
    lines = traceback_text.splitlines()
    app = APPS / "failing_handlers_app.py"
    assert lines[0] == "Traceback (most recent call last):", traceback_text
    assert re.fullmatch(rf'  File "{re.escape(str(app))}", line \d+, in {function}', lines[1]), (
        traceback_text
    )
    assert lines[-1].startswith("LookupError: no stock for"), traceback_text
    assert SERVER_PACKAGE not in traceback_text


def logged_tracebacks(logs: str) -> dict[str, str]:
    """Each 'raised LookupError' entry of the log: its first line -> its traceback."""
    found: dict[str, str] = {}
    for entry in re.split(r"\n(?=\d{4}-\d\d-\d\d )", logs):
        first, _, rest = entry.partition("\n")
        if "raised LookupError" in first:
            found[first.split(" ERROR ", 1)[1]] = rest
    return found


def test_handler_tracebacks_start_at_the_applications_first_frame(tmp_path):
    with ServerProcess("failing_handlers_app.py", tmp_path, {"debug": True}) as srv:
        for path, function in (("/plain", "plain"), ("/async", "async_handler")):
            answer = httpx.get(srv.url(path), timeout=30)
            assert answer.status_code == 500
            assert_starts_in_the_app(answer.text, function)  # the debug page
        call = ["shop.stock", [], {"item": "api"}]
        answer = httpx.post(srv.url("/api"), json=call, timeout=30)
        assert answer.status_code == 500
        assert_starts_in_the_app(answer.json()["error"], "stock")
        wait_for(lambda: len(logged_tracebacks(srv.logs())) == 3, timeout=30)
        logged = logged_tracebacks(srv.logs())
    assert set(logged) == {
        "handler for GET /plain raised LookupError",
        "handler for GET /async raised LookupError",
        "API function shop.stock raised LookupError",
    }
    functions = {"/plain": "plain", "/async": "async_handler", "shop.stock": "stock"}
    for first, text in logged.items():
        [function] = [name for key, name in functions.items() if f" {key} " in first]
        assert_starts_in_the_app(text, function)


# -- each verbosity level adds what docs/logs.md says ----------------------------------------


def served_once(tmp_path, verbosity: str) -> str:
    """The log of the demo service started at `verbosity`, asked for /hello once, stopped."""
    command = [sys.executable, "-m", "hwebserver", str(ROOT / "examples" / "hello.py")]
    command += ["--port", str(free_port()), "--verbosity", verbosity]
    with ServerProcess("hello.py", tmp_path / verbosity, command=command) as srv:
        assert httpx.get(srv.url("/hello"), timeout=30).status_code == 200
        wait_for(lambda: "serving with 1 worker(s)" in srv.logs(), timeout=30)
        srv.signal(signal.SIGTERM)
        assert srv.wait(60) == 0
        return srv.logs()


def test_each_verbosity_level_adds_to_the_one_before(tmp_path):
    low, medium, high = (served_once(tmp_path, level) for level in ("low", "medium", "high"))
    for logs in (low, medium, high):
        assert "serving 'main' on http://127.0.0.1:" in logs
        assert re.search(r"supervisor \d+ serving with 1 worker\(s\): \d+", logs)
        assert "shutting down (SIGTERM)" in logs
    lifecycle = re.compile(r"worker \d+ \(generation 0\) ready in")
    assert not lifecycle.search(low) and lifecycle.search(medium) and lifecycle.search(high)
    access = re.compile(r'127\.0\.0\.1:\d+ "GET /hello" 200 \d+ [\d.]+ms')
    assert not access.search(low) and not access.search(medium) and access.search(high)

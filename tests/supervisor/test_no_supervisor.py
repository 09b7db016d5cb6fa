"""run(supervisor=False), `hwebserver --no-supervisor APP`, HWEBSERVER_SUPERVISOR=0: the
process that called run() serves itself, as Houdini does, and reloads in place (same pid, same
listening sockets, nothing refused)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import threading

import httpx
import psutil
from clientloop import ClientLoop
from supervision import copy_app, edit
from support import ServerProcess, wait_for
from test_control_command import control, free_port
from test_systemd import receive
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

NO_SUPERVISOR = {"supervisor": False, "verbosity": 1}


def children(srv: ServerProcess) -> list[psutil.Process]:
    """Its child processes, less the source watcher: none serves."""
    found = []
    for child in srv.descendants():
        try:
            if "supervisor.watcher" not in " ".join(child.cmdline()):
                if child.status() != psutil.STATUS_ZOMBIE:
                    found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def serving(srv: ServerProcess) -> ServerProcess:
    """Its signal handlers are in place once it says so (its port is announced before)."""
    wait_for(lambda: f"pid {srv.pid} serving in the foreground itself" in srv.logs())
    return srv


def reloaded(srv: ServerProcess, generation: int) -> bool:
    return f"generation {generation} serves in pid {srv.pid}" in srv.logs()


def test_handlers_run_in_the_calling_process_with_one_module_state(tmp_path):
    with ServerProcess(copy_app(tmp_path), tmp_path, NO_SUPERVISOR) as srv:
        serving(srv)
        loaded_by, served_by = map(int, httpx.get(srv.url("/loaded-by")).text.split())
        assert loaded_by == served_by == srv.pid
        counts = []
        with httpx.Client() as kept:
            for _ in range(5):
                counts.append(kept.get(srv.url("/count")).text)
        counts += [httpx.get(srv.url("/count")).text for _ in range(5)]  # new connections
        assert counts == [f"{n} {srv.pid}" for n in range(1, 11)]
        assert children(srv) == []
        assert "serving in the foreground itself (no supervisor)" in srv.logs()


def test_reloads_keep_the_pid_and_the_sockets_and_refuse_nothing(tmp_path):
    """5 HUP reloads and 3 saved edits (the second broken), under a keep-alive client and a
    client that connects anew for each request: nothing fails, nothing is refused, the pid
    never changes, the new code answers after each good edit; no descriptor leaks."""
    script = copy_app(tmp_path)
    kwargs = {**NO_SUPERVISOR, "reload_source_changes": True}
    with ServerProcess(script, tmp_path, kwargs) as srv:
        serving(srv)
        wait_for(lambda: "watching" in srv.logs())
        fds_before = open_fds(srv.pid)
        url = srv.url("/version")
        with ClientLoop(url) as kept, ClientLoop(url, keep_alive=False) as fresh:
            kept.wait_for_text(lambda text: text.startswith("v1 "))
            for generation in range(1, 6):
                srv.signal(signal.SIGHUP)
                wait_for(lambda g=generation: reloaded(srv, g), timeout=60)
                kept.wait_for_count(10)
                fresh.wait_for_count(10)
            edit(script, 'VERSION = "v1"', 'VERSION = "v2"')
            wait_for(lambda: reloaded(srv, 6), timeout=60)
            kept.wait_for_text(lambda text: text.startswith("v2 "))
            fresh.wait_for_text(lambda text: text.startswith("v2 "))
            edit(script, 'VERSION = "v2"', 'VERSION = "v3"\nraise RuntimeError("half-typed")')
            wait_for(lambda: "reload failed: RuntimeError: half-typed" in srv.logs(), timeout=60)
            kept.wait_for_count(10)
            fresh.wait_for_count(10)
            assert kept.texts[-1].startswith("v2 ") and fresh.texts[-1].startswith("v2 ")
            edit(script, 'raise RuntimeError("half-typed")', "")
            wait_for(lambda: reloaded(srv, 7), timeout=60)
            kept.wait_for_text(lambda text: text.startswith("v3 "))
            fresh.wait_for_text(lambda text: text.startswith("v3 "))
        assert kept.failures == [] and fresh.failures == []
        assert {text.split()[1] for text in kept.texts + fresh.texts} == {str(srv.pid)}
        assert 'File "' in srv.logs() and "line " in srv.logs()  # the user's traceback
        assert srv.logs().count("reload failed") == 1
        assert children(srv) == []  # each check child was reaped
        wait_for(lambda: open_fds(srv.pid) == fds_before, timeout=15)


def test_term_drains_a_request_in_progress_and_exits_0(tmp_path):
    with ServerProcess(copy_app(tmp_path), tmp_path, NO_SUPERVISOR) as srv:
        serving(srv)
        answers: list[httpx.Response] = []
        slow = threading.Thread(
            target=lambda: answers.append(httpx.get(srv.url("/slow?s=5"), timeout=30))
        )
        slow.start()
        wait_for(lambda: f"slow request started in {srv.pid}" in srv.logs())
        srv.signal(signal.SIGTERM)
        slow.join(30)
        assert srv.wait(30) == 0
        assert [(r.status_code, r.text) for r in answers] == [(200, "v1 slept")]
        assert "shutting down (SIGTERM)" in srv.logs()


def test_a_second_interrupt_stops_at_once(tmp_path):
    with ServerProcess(copy_app(tmp_path), tmp_path, NO_SUPERVISOR) as srv:
        serving(srv)
        failed: list[Exception] = []

        def ask() -> None:
            try:
                httpx.get(srv.url("/slow?s=60"), timeout=60)
            except httpx.HTTPError as exc:
                failed.append(exc)

        slow = threading.Thread(target=ask)
        slow.start()
        wait_for(lambda: "slow request started" in srv.logs())
        srv.signal(signal.SIGINT)
        wait_for(lambda: "shutting down (SIGINT)" in srv.logs())
        srv.signal(signal.SIGINT)
        assert srv.wait(15) == 0
        slow.join(30)
        assert len(failed) == 1  # cut, not answered


def test_command_line_no_supervisor_reloads_its_own_command_line(tmp_path):
    """`hwebserver --no-supervisor APP`; the re-executed image runs the same command line.
    The pid file, `hwebserver status` and `hwebserver reload` work on the process itself."""
    app = copy_app(tmp_path)
    pid_file = tmp_path / "service.pid"
    command = [sys.executable, "-m", "hwebserver", "--no-supervisor", str(app), "--port", "0"]
    command += ["--pid-file", str(pid_file), "--admin-port", str(free_port())]
    with ServerProcess(app, tmp_path, command=command, expect_ports=("main", "admin")) as srv:
        loaded_by, served_by = map(int, httpx.get(srv.url("/loaded-by")).text.split())
        assert loaded_by == served_by == srv.pid
        assert pid_file.read_text().split()[0] == str(srv.pid)
        status = control("status", "--pid-file", str(pid_file))
        assert status.returncode == 0, status.stderr
        assert f"pid {srv.pid} (serving itself, no supervisor): ready, generation 0" in (
            status.stdout
        )
        edit(app, 'VERSION = "v1"', 'VERSION = "v2"')
        reload = control("reload", "--pid-file", str(pid_file))
        assert reload.returncode == 0, reload.stderr + srv.logs()
        assert "generation 1 serves" in reload.stdout
        assert httpx.get(srv.url("/version")).text == f"v2 {srv.pid}"
        metrics = httpx.get(srv.url("/metrics", "admin")).text
        assert f'hwebserver_supervisor_info{{generation="1",pid="{srv.pid}"}} 1.0' in metrics
        assert 'hwebserver_reloads_total{outcome="succeeded"} 1.0' in metrics
        assert httpx.get(srv.url("/readyz", "admin")).text == "ready\n"
        assert httpx.get(srv.url("/livez", "admin")).text == "live\n"
        assert pid_file.read_text().split()[0] == str(srv.pid)
        stop = control("stop", "--pid-file", str(pid_file))
        assert stop.returncode == 0, stop.stderr
        assert srv.wait(10) == 0
        assert not pid_file.exists()


def test_environment_selects_it_for_a_script_that_does_not_say(tmp_path):
    env = {"HWEBSERVER_SUPERVISOR": "0"}
    with ServerProcess(copy_app(tmp_path), tmp_path, {"verbosity": 1}, env=env) as srv:
        loaded_by, served_by = map(int, httpx.get(srv.url("/loaded-by")).text.split())
        assert loaded_by == served_by == srv.pid
        assert children(srv) == []


def test_command_line_supervisor_wins_over_the_environment(tmp_path):
    app = copy_app(tmp_path)
    command = [sys.executable, "-m", "hwebserver", "--supervisor", str(app), "--port", "0"]
    env = {"HWEBSERVER_SUPERVISOR": "0"}
    with ServerProcess(app, tmp_path, command=command, env=env) as srv:
        wait_for(lambda: len(children(srv)) == 1)
        loaded_by, served_by = map(int, httpx.get(srv.url("/loaded-by")).text.split())
        assert loaded_by == srv.pid != served_by


def test_a_wrong_environment_value_is_one_clear_error(tmp_path):
    app = copy_app(tmp_path)
    command = [sys.executable, "-m", "hwebserver", str(app), "--port", "0"]
    env = {"HWEBSERVER_SUPERVISOR": "maybe"}
    srv = ServerProcess(app, tmp_path, command=command, env=env)
    logs = srv.start_and_fail()
    assert "HWEBSERVER_SUPERVISOR='maybe': use 0" in logs
    assert "Traceback" not in logs


def test_json_access_lines_carry_the_process_s_own_pid(tmp_path):
    kwargs = {**NO_SUPERVISOR, "verbosity": 2, "settings": {"ACCESS_LOG_FORMAT": "json"}}
    with ServerProcess(copy_app(tmp_path), tmp_path, kwargs) as srv:
        assert httpx.get(srv.url("/version")).status_code == 200

        def access_lines() -> list[dict]:
            found = []
            for line in srv.logs().splitlines():
                if '"path":"/version"' in line:
                    found.append(json.loads(line[line.index("{") :]))
            return found

        lines = wait_for(access_lines)
        assert lines[0]["pid"] == srv.pid and lines[0]["status"] == 200


def test_a_reload_that_cannot_check_in_time_keeps_the_old_code(tmp_path):
    script = copy_app(tmp_path)
    kwargs = {**NO_SUPERVISOR, "settings": {"WORKER_BOOT_TIMEOUT": 3}}
    with ServerProcess(script, tmp_path, kwargs) as srv:
        serving(srv)
        edit(script, 'VERSION = "v1"', 'VERSION = "v2"\nimport time\ntime.sleep(600)')
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "did not reach run() within 3s" in srv.logs(), timeout=60)
        assert httpx.get(srv.url("/version")).text == f"v1 {srv.pid}"
        wait_for(lambda: children(srv) == [], timeout=15)  # the hung check was killed


def test_systemd_notifications_and_activated_socket_survive_the_re_execution(tmp_path):
    """Type=notify: READY, RELOADING then READY from the re-executed image (its NOTIFY_SOCKET
    handed back), STOPPING; a socket passed by socket activation goes on serving."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify, socket.socket() as activated:
        notify.bind(str(path))
        notify.settimeout(60)
        activated.bind(("127.0.0.1", 0))
        activated.listen()
        port, fd = activated.getsockname()[1], activated.fileno()
        move = f"exec 3<&{fd} {fd}<&-; " if fd != 3 else ""
        script = copy_app(tmp_path)
        command = [
            "/bin/bash",
            "-c",
            move + 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"',
            "bash",
            sys.executable,
            str(script),
        ]
        env = {"NOTIFY_SOCKET": str(path)}
        srv = ServerProcess(
            script, tmp_path, NO_SUPERVISOR, env=env, command=command, pass_fds=(fd,)
        )
        try:
            srv.start(wait=False)
            assert receive(notify)["READY"] == "1"
            activated.close()
            assert httpx.get(f"http://127.0.0.1:{port}/version").text == f"v1 {srv.pid}"
            edit(script, 'VERSION = "v1"', 'VERSION = "v2"')
            srv.signal(signal.SIGHUP)
            assert receive(notify)["RELOADING"] == "1"
            assert receive(notify)["READY"] == "1"
            assert reloaded(srv, 1)
            assert httpx.get(f"http://127.0.0.1:{port}/version").text == f"v2 {srv.pid}"
            srv.signal(signal.SIGTERM)
            assert receive(notify)["STOPPING"] == "1"
            assert srv.wait(30) == 0
        finally:
            srv.stop()


def test_a_reload_closes_websockets_with_1001_and_keeps_the_pid(tmp_path):
    events = tmp_path / "events.jsonl"
    env = {"HWEBSERVER_TEST_EVENTS": str(events)}
    with ServerProcess("websocket_app.py", tmp_path, NO_SUPERVISOR, env=env) as srv:
        serving(srv)

        async def scenario() -> int | None:
            url = f"ws://127.0.0.1:{srv.port}/ws/echo/stay"
            async with connect(url, proxy=None, open_timeout=30) as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"
                srv.signal(signal.SIGHUP)
                try:
                    await asyncio.wait_for(ws.recv(), 60)
                except ConnectionClosed as closed:
                    return closed.rcvd.code if closed.rcvd is not None else None
            return None

        assert asyncio.run(scenario()) == 1001
        wait_for(lambda: reloaded(srv, 1), timeout=60)

        async def again() -> str:
            url = f"ws://127.0.0.1:{srv.port}/ws/echo/back"
            async with connect(url, proxy=None, open_timeout=30) as ws:
                await ws.send("again")
                return str(await ws.recv())

        assert asyncio.run(again()) == "again"


def test_a_reload_asked_while_the_process_re_executes_is_not_lost(tmp_path):
    """A HUP that comes while the process drains or exec()s (or while the new image imports
    the script, before its handler is in place) neither kills it nor goes unheard."""
    with ServerProcess(copy_app(tmp_path), tmp_path, NO_SUPERVISOR) as srv:
        serving(srv)
        with ClientLoop(srv.url("/version"), keep_alive=False) as fresh:
            srv.signal(signal.SIGHUP)
            wait_for(lambda: "re-executes itself" in srv.logs(), timeout=60, interval=0.001)
            srv.signal(signal.SIGHUP)
            wait_for(lambda: reloaded(srv, 2), timeout=60)
            fresh.wait_for_count(10)
        assert fresh.failures == []
        assert {text.split()[1] for text in fresh.texts} == {str(srv.pid)}

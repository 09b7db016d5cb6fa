"""`hwebserver status|reload|stop`, run as an operator runs them against a service started
with `hwebserver APP --admin-port N --pid-file FILE`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from supervision import alive, copy_app, edit, worker_pids
from support import APPS, ServerProcess, python_env, wait_for

from hwebserver.testing import free_port


def control(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hwebserver", *args],
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def service(
    tmp_path: Path, app: Path, *options: str, admin: bool = True
) -> tuple[ServerProcess, Path]:
    pid_file = tmp_path / "service.pid"
    command = [sys.executable, "-m", "hwebserver", str(app), "--port", "0"]
    command += ["--pid-file", str(pid_file), *options]
    if admin:
        command += ["--admin-port", str(free_port())]
    names = ("main", "admin") if admin else ("main",)
    return ServerProcess(app, tmp_path, command=command, expect_ports=names), pid_file


def test_status_reload_and_stop_by_pid_file(tmp_path):
    srv, pid_file = service(tmp_path, copy_app(tmp_path), "--workers", "2")
    with srv:
        wait_for(lambda: len(worker_pids(srv)) == 2)
        lines = pid_file.read_text().split()
        assert lines == [str(srv.pid), f"http://127.0.0.1:{srv.ports['admin']}"]
        old = worker_pids(srv)
        status = control("status", "--pid-file", str(pid_file))
        assert status.returncode == 0, status.stderr
        assert f"supervisor {srv.pid}: ready, generation 0" in status.stdout
        rows = re.findall(
            r"^\s+(\d+)\s+0\s+\S+\s+\d+\s+\d+\s+[\d.]+ MiB\s+[\d.]+ms$", status.stdout, re.M
        )
        assert {int(pid) for pid in rows} == old
        assert "total: 2 worker(s)" in status.stdout

        reload = control("reload", "--pid-file", str(pid_file))
        assert reload.returncode == 0, reload.stderr
        assert re.match(
            r"reloaded in [\d.]+s: generation 1 serves \(workers \d+, \d+\)", reload.stdout
        )
        new = {int(pid) for pid in re.findall(r"\d+", reload.stdout.split("workers")[1])}
        assert not new & old and new <= worker_pids(srv)

        by_port = control("status", "--admin-port", str(srv.ports["admin"]))
        assert by_port.returncode == 0 and "generation 1" in by_port.stdout
        assert "1 reload(s), 0 failed" in by_port.stdout

        stop = control("stop", "--pid-file", str(pid_file))
        assert stop.returncode == 0, stop.stderr
        assert stop.stdout.startswith(f"stopped supervisor {srv.pid} in ")
        assert srv.wait(10) == 0
        assert not pid_file.exists()  # the service removed its pid file
    after = control("status", "--pid-file", str(pid_file))
    assert after.returncode == 3 and "not running" in after.stderr


def test_reload_reports_a_failed_reload(tmp_path):
    app = copy_app(tmp_path)
    srv, pid_file = service(tmp_path, app)
    with srv:
        wait_for(lambda: worker_pids(srv))
        old = worker_pids(srv)
        edit(app, 'VERSION = "v1"', 'VERSION = "v1" +')  # a syntax error
        result = control("reload", "--pid-file", str(pid_file))
        assert result.returncode == 1
        assert "reload failed" in result.stderr and "generation 0 keeps serving" in result.stderr
        assert worker_pids(srv) == old


def test_without_an_admin_port_status_lists_the_workers_and_stop_works(tmp_path):
    srv, pid_file = service(tmp_path, APPS / "echo_app.py", admin=False)
    with srv:
        wait_for(lambda: worker_pids(srv))
        assert pid_file.read_text().split() == [str(srv.pid)]
        status = control("status", "--pid-file", str(pid_file))
        assert status.returncode == 0, status.stderr
        assert "no admin port" in status.stdout
        for pid in worker_pids(srv):
            assert str(pid) in status.stdout
        stop = control("stop", "--pid-file", str(pid_file))
        assert stop.returncode == 0, stop.stderr
        assert srv.wait(10) == 0 and not alive(srv.pid)


def test_clear_errors_when_the_service_cannot_be_found(tmp_path):
    missing = control("status", "--pid-file", str(tmp_path / "nothing.pid"))
    assert missing.returncode == 3 and "no pid file" in missing.stderr
    stale = tmp_path / "stale.pid"
    stale.write_text("999999999\n")
    result = control("stop", "--pid-file", str(stale))
    assert result.returncode == 3 and "not running" in result.stderr
    nowhere = control("status")
    assert nowhere.returncode == 1 and "--pid-file" in nowhere.stderr
    closed = control("status", "--admin-port", str(free_port()))
    assert closed.returncode == 3 and "no answer" in closed.stderr


def test_help_shows_the_operating_options_and_commands():
    serving = control("--help")
    assert "--admin-port" in serving.stdout and "--pid-file" in serving.stdout
    operating = control("status", "--help")
    assert operating.returncode == 0
    for word in ("status", "reload", "stop", "--pid-file", "--admin-port", "--timeout"):
        assert word in operating.stdout

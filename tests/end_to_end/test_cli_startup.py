"""`hwebserver APP` where APP calls run() itself (the README's quick start, Houdini scripts):
one server, the command line's options over the script's; start-up failures in one line."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest
from clientloop import ClientLoop
from supervision import alive, bindable, edit, worker_pids
from support import APPS, ServerProcess, python_env, tcp_connections, wait_for

from hwebserver.testing import free_port


def cli(app: str | Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "hwebserver", str(app), *options]


def listening(srv: ServerProcess) -> set[tuple[str, int]]:
    """Every (address, port) the server's processes listen on."""
    found = set()
    for process in [psutil.Process(srv.pid), *srv.descendants()]:
        try:
            for conn in tcp_connections(process):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((conn.laddr.ip, conn.laddr.port))
        except psutil.NoSuchProcess:
            continue
    return found


def stop_and_check_nothing_is_left(srv: ServerProcess, port: int) -> None:
    """SIGTERM: exit status 0, every process gone, the port free (no second server)."""
    pids = {srv.pid, *(child.pid for child in srv.descendants())}
    srv.signal(signal.SIGTERM)
    assert srv.wait(60) == 0, srv.logs()
    wait_for(lambda: not any(alive(pid) for pid in pids), timeout=30)
    assert bindable(port)
    assert srv.logs().count("serving 'main' on") == 1, srv.logs()


def test_readme_quick_start_under_the_command_line_serves_on_the_typed_port(tmp_path):
    port = free_port()
    command = cli(APPS / "quickstart_app.py", "--port", str(port), "--workers", "2")
    with ServerProcess("quickstart_app.py", tmp_path, command=command) as srv:
        assert srv.port == port
        assert httpx.get(srv.url("/hello?name=cli"), timeout=30).text == "Hello, cli"
        wait_for(lambda: len(worker_pids(srv)) == 2, timeout=30)
        assert listening(srv) == {("127.0.0.1", port)}  # not the script's 8008 as well
        assert f"--port {port} replaces port 8008 of the script's run()" in srv.logs()
        stop_and_check_nothing_is_left(srv, port)


def test_documented_systemd_line_applies_workers_and_address_over_the_script(tmp_path):
    entry_point = Path(sys.executable).with_name("hwebserver")
    if not entry_point.exists():
        pytest.skip("the hwebserver entry point is not installed in this environment")
    port = free_port()
    # docs/service.md: ExecStart=/srv/venv/bin/hwebserver /srv/app/service.py --workers 4 --address 0.0.0.0
    command = [str(entry_point), str(APPS / "own_port_app.py"), "--workers", "2"]
    command += ["--address", "127.0.0.1"]
    srv = ServerProcess("own_port_app.py", tmp_path, command=command)
    srv.extra_env["SERVICE_PORT"] = str(port)
    with srv:
        assert srv.port == port  # the script's own port: the command line gave none
        wait_for(lambda: len(worker_pids(srv)) == 2, timeout=30)
        assert listening(srv) == {("127.0.0.1", port)}
        answers = {httpx.get(srv.url("/pid"), timeout=30).text for _ in range(20)}
        assert answers <= {str(pid) for pid in worker_pids(srv)}
        stop_and_check_nothing_is_left(srv, port)


def test_reload_of_a_script_calling_run_keeps_the_command_line_options(tmp_path):
    script = tmp_path / "service.py"
    shutil.copy(APPS / "quickstart_app.py", script)
    port = free_port()
    command = cli(script, "--port", str(port), "--workers", "2")
    with ServerProcess(script, tmp_path, command=command) as srv:
        first = worker_pids(srv)
        wait_for(lambda: len(worker_pids(srv)) == 2, timeout=30)
        with ClientLoop(srv.url("/hello")) as loop:
            loop.wait_for_text(lambda text: text == "Hello, world")
            edit(script, '"Hello, "', '"Hi, "')
            srv.signal(signal.SIGHUP)
            loop.wait_for_text(lambda text: text == "Hi, world")
        assert loop.failures == []
        wait_for(lambda: len(worker_pids(srv)) == 2 and not worker_pids(srv) & first, 30)
        for pid in worker_pids(srv):
            assert psutil.Process(pid).cmdline()[1:] == command[1:]
        assert listening(srv) == {("127.0.0.1", port)}
        stop_and_check_nothing_is_left(srv, port)


def test_broken_edit_of_a_script_calling_run_is_reported_by_the_reload(tmp_path):
    """In a worker a reload started, an error is the supervisor's to log with its traceback:
    the command line's one-line report is for the start of the service only."""
    script = tmp_path / "service.py"
    shutil.copy(APPS / "quickstart_app.py", script)
    command = cli(script, "--port", str(free_port()), "--verbosity", "medium")
    with ServerProcess(script, tmp_path, command=command) as srv:
        with ClientLoop(srv.url("/hello")) as loop:
            loop.wait_for_text(lambda text: text == "Hello, world")
            edit(script, "def hello(request):", "def hello(request:")
            srv.signal(signal.SIGHUP)
            wait_for(lambda: "reload failed (generation 1)" in srv.logs(), timeout=60)
            assert "SyntaxError" in srv.logs()
            assert "hwebserver: syntax error" not in srv.logs()
            loop.wait_for_count(20)
            assert all(text == "Hello, world" for text in loop.texts)
            edit(script, "def hello(request:", "def hello(request):")
            edit(script, '"Hello, "', '"Hi, "')
            srv.signal(signal.SIGHUP)
            loop.wait_for_text(lambda text: text == "Hi, world")
        assert loop.failures == []


# -- start-up failures: one line on stderr, no traceback, exit status not 0 ----------------------


def run_cli(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=python_env(), cwd=cwd, capture_output=True, text=True, timeout=60
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hwebserver: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_busy_port_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(cli(APPS / "quickstart_app.py", "--port", str(port)), tmp_path)
    assert_one_line_failure(result, f"port {port}", "Address already in use")


@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        (["--port", "70000"], ["port 70000", "out of range"]),
        (["--port", "0", "--address", "nosuch.invalid"], ["cannot bind", "nosuch.invalid"]),
        # TEST-NET-1: an address this machine does not have
        (["--port", "0", "--address", "192.0.2.1"], ["192.0.2.1", "Cannot assign"]),
        (["--port", "0", "--workers", "-1"], ["workers"]),
    ],
)
def test_bad_option_is_one_line(tmp_path, options, fragments):
    result = run_cli(cli(APPS / "quickstart_app.py", *options), tmp_path)
    assert_one_line_failure(result, *fragments)


def test_bad_setting_in_a_settings_file_names_setting_and_file(tmp_path):
    settings = tmp_path / "prod_settings.py"
    settings.write_text('MAX_REQUEST_LINE = "long"\n')
    command = cli(APPS / "quickstart_app.py", "--port", "0", "--settings", str(settings))
    result = run_cli(command, tmp_path)
    assert_one_line_failure(result, "MAX_REQUEST_LINE", str(settings))


def test_bad_setting_in_the_scripts_run_names_it(tmp_path):
    script = tmp_path / "service.py"
    script.write_text(
        "import hwebserver\n"
        'hwebserver.run(port=0, settings={"MAX_REQUST_LINE": 100}, in_background=False)\n'
    )
    assert_one_line_failure(run_cli(cli(script), tmp_path), "MAX_REQUST_LINE")


def test_missing_file_module_and_syntax_error_are_one_line(tmp_path):
    assert_one_line_failure(run_cli(cli(tmp_path / "nowhere.py"), tmp_path), "no such file")
    result = run_cli(cli("no_such_module_here"), tmp_path)
    assert_one_line_failure(result, "no_such_module_here", "No module named")
    broken = tmp_path / "broken.py"
    broken.write_text("import hwebserver\n\ndef handler(:\n    pass\n")
    assert_one_line_failure(run_cli(cli(broken), tmp_path), "syntax error", str(broken), "line 3")


def test_debug_shows_the_traceback(tmp_path):
    result = run_cli(cli(APPS / "quickstart_app.py", "--port", "70000", "--debug"), tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "ValueError: port 70000 of 'main' is out of range" in result.stderr


def test_from_python_run_still_raises(tmp_path):
    """`python service.py`: no command line, so run()'s exception, traceback and all."""
    script = tmp_path / "service.py"
    script.write_text("import hwebserver\nhwebserver.run(port=70000, in_background=False)\n")
    result = run_cli([sys.executable, str(script)], tmp_path)
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "ValueError: port 70000 of 'main' is out of range" in result.stderr


# -- a port other than the one asked for is a warning naming both ------------------------------


def test_fallback_to_a_system_port_is_a_warning_naming_both_ports(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        command = cli(APPS / "quickstart_app.py", "--port", str(port), "--allow-system-port")
        with ServerProcess("quickstart_app.py", tmp_path, command=command) as srv:
            assert srv.port != port
            warnings = [line for line in srv.logs().splitlines() if " WARNING " in line]
            assert any(str(port) in line and str(srv.port) in line for line in warnings), warnings


def test_port_setting_replacing_the_typed_port_is_a_warning_naming_both(tmp_path):
    settings = tmp_path / "prod_settings.py"
    port, typed = free_port(), free_port()
    settings.write_text(f"PORT = {port}\n")
    command = cli(APPS / "quickstart_app.py", "--port", str(typed), "--settings", str(settings))
    with ServerProcess("quickstart_app.py", tmp_path, command=command) as srv:
        assert srv.port == port
        warnings = [line for line in srv.logs().splitlines() if " WARNING " in line]
        assert any(f"PORT {port}" in line and str(typed) in line for line in warnings), warnings

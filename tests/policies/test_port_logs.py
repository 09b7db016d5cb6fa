"""LOG_FILE and MIN_LOG_SEVERITY: each port's requests also logged to its own file."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from support import ServerProcess, wait_for


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_each_port_logs_its_own_requests_to_its_file(tmp_path):
    main_log, quiet_log = tmp_path / "main.log", tmp_path / "quiet.log"
    port_settings = {
        "main": {"LOG_FILE": str(main_log)},
        "quiet": {"LOG_FILE": str(quiet_log), "MIN_LOG_SEVERITY": "Warning"},
    }
    process = ServerProcess(
        "configured_app.py",
        tmp_path / "server",
        {"ports": ["quiet", "nolog"]},
        env={
            "HWEBSERVER_TEST_PORT_SETTINGS": json.dumps(port_settings),
            "HWEBSERVER_TEST_ECHO_PORTS": json.dumps(["quiet", "nolog"]),
        },
        expect_ports=("main", "quiet", "nolog"),
    )
    try:
        process.start()
        with httpx.Client(timeout=10) as client:
            assert client.get(process.url("/hello?main=1")).status_code == 200
            assert client.get(process.url("/boom")).status_code == 500
            assert client.get(process.url("/hello", "quiet")).status_code == 200
            assert client.get(process.url("/boom", "quiet")).status_code == 500
            assert client.get(process.url("/hello", "nolog")).status_code == 200
        # access lines are written after the response: wait for the last one
        wait_for(lambda: any('"GET /boom" 500' in line for line in lines(main_log)))
        main_text = main_log.read_text()
        assert " Message 127.0.0.1:" in main_text
        assert '"GET /hello?main=1" 200 13 ' in main_text
        assert " Abort handler for GET /boom raised RuntimeError" in main_text
        assert "RuntimeError: secret-detail-in-exception" in main_text  # the traceback
        assert main_text.count('"GET /hello') == 1  # quiet's and nolog's requests are elsewhere
        wait_for(lambda: "RuntimeError" in quiet_log.read_text())
        quiet_text = quiet_log.read_text()
        assert " Abort handler for GET /boom raised RuntimeError" in quiet_text
        assert "Message" not in quiet_text  # below MIN_LOG_SEVERITY=Warning
        # the console keeps Low verbosity: no access lines there
        assert '"GET /hello' not in process.logs()
    finally:
        process.stop()


def test_log_files_are_reopened_after_rotation(tmp_path):
    log = tmp_path / "port.log"
    process = ServerProcess(
        "configured_app.py",
        tmp_path / "server",
        env={"HWEBSERVER_TEST_PORT_SETTINGS": json.dumps({"main": {"LOG_FILE": str(log)}})},
    )
    try:
        process.start()
        with httpx.Client(timeout=10) as client:
            client.get(process.url("/hello?before"))
            wait_for(lambda: '"GET /hello?before" 200' in log.read_text())
            rotated = tmp_path / "port.log.1"
            log.rename(rotated)  # what logrotate does, then it sends SIGUSR1
            assert client.get(process.url("/reopen-logs")).text == "reopened"
            client.get(process.url("/echo/after"))
            wait_for(lambda: log.exists() and '"GET /echo/after"' in log.read_text())
        assert '"GET /echo/after"' not in rotated.read_text()
        assert '"GET /hello?before" 200' in rotated.read_text()
    finally:
        process.stop()

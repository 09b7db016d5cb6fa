"""Binding: the main port with its fallbacks, named extra ports, IPv6, port_callback."""

from __future__ import annotations

import json
import signal
import socket

import httpx
from supervision import copy_app
from support import ServerProcess, can_connect, wait_for


def busy_port_with_free_next() -> tuple[socket.socket, int]:
    """A listening socket on port P, with P+1 free: the test's stand-in for a busy port."""
    for _ in range(50):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                sock.close()
                continue
        return sock, port
    raise AssertionError("no port P with P+1 free")


def callbacks(srv: ServerProcess) -> list[tuple[str, int]]:
    lines = srv.port_file.read_text().splitlines()
    return [(record["name"], record["port"]) for record in map(json.loads, lines)]


def test_max_port_tries_the_range_in_order(tmp_path):
    busy, port = busy_port_with_free_next()
    with busy:
        kwargs = {"port": port, "max_port": port + 1}
        with ServerProcess(copy_app(tmp_path), tmp_path, kwargs) as srv:
            assert srv.port == port + 1
            assert httpx.get(srv.url("/version"), timeout=30).status_code == 200
            assert callbacks(srv) == [("main", port + 1)]


def test_allow_system_port_lets_the_os_pick(tmp_path):
    busy, port = busy_port_with_free_next()
    with busy:
        kwargs = {"port": port, "allow_system_port": True}
        with ServerProcess(copy_app(tmp_path), tmp_path, kwargs) as srv:
            assert srv.port not in (port, 0)
            assert httpx.get(srv.url("/version"), timeout=30).status_code == 200


def test_busy_port_without_fallback_fails_naming_port_and_reason(tmp_path):
    busy, port = busy_port_with_free_next()
    with busy:
        srv = ServerProcess(copy_app(tmp_path), tmp_path, {"port": port})
        try:
            srv.start(wait=False)
            assert srv.wait(30) == 1
            assert f"OperationFailed: cannot bind 'main' port {port}" in srv.logs()
            assert "in use" in srv.logs()
        finally:
            srv.stop()


def test_named_ports_are_reported_once_and_served_across_a_reload(tmp_path):
    kwargs = {"ports": ["admin"], "workers": 2, "verbosity": 1}
    with ServerProcess(copy_app(tmp_path), tmp_path, kwargs, expect_ports=("main", "admin")) as srv:
        admin = srv.ports["admin"]
        assert sorted(callbacks(srv)) == sorted([("main", srv.port), ("admin", admin)])
        assert httpx.get(srv.url("/admin-only", "admin"), timeout=30).text == f"admin {admin}"
        assert httpx.get(srv.url("/admin-only"), timeout=30).status_code == 404
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "generation 1 serves" in srv.logs(), timeout=60)
        assert httpx.get(srv.url("/admin-only", "admin"), timeout=30).text == f"admin {admin}"
        assert len(callbacks(srv)) == 2  # not again for the new workers


def test_ipv6_address(tmp_path):
    srv = ServerProcess(copy_app(tmp_path), tmp_path, {"address": "::1"})
    try:
        srv.start(wait=False)
        port = wait_for(lambda: srv.read_ports().get("main"), timeout=30)
        wait_for(lambda: can_connect(port, host="::1"), timeout=30)
        assert not can_connect(port)  # not on IPv4
        response = httpx.get(f"http://[::1]:{port}/version", timeout=30)
        assert response.status_code == 200
    finally:
        srv.stop()


def test_set_settings_for_port_keys(tmp_path):
    """IPV6 for the main port; PORT, MAX_PORT and ADDRESS for a named one (which would
    share the main port's address otherwise)."""
    busy, port = busy_port_with_free_next()
    with busy:
        script = copy_app(tmp_path)
        script.write_text(
            script.read_text().replace(
                'if __name__ == "__main__":\n',
                'hwebserver.setSettingsForPort({"IPV6": True})\n'
                f"hwebserver.setSettingsForPort({{'PORT': {port}, 'MAX_PORT': {port + 1}, "
                "'ADDRESS': '127.0.0.1'}, 'admin')"
                '\n\nif __name__ == "__main__":\n',
            )
        )
        srv = ServerProcess(script, tmp_path, {"ports": ["admin"]}, expect_ports=("main", "admin"))
        try:
            srv.start(wait=False)
            ports = wait_for(lambda: len(srv.read_ports()) == 2 and srv.read_ports(), timeout=30)
            assert ports["admin"] == port + 1  # PORT was busy
            wait_for(lambda: can_connect(ports["main"], host="::1"), timeout=30)
            main = httpx.get(f"http://[::1]:{ports['main']}/version", timeout=30)
            assert main.status_code == 200
            admin = httpx.get(f"http://127.0.0.1:{port + 1}/admin-only", timeout=30)
            assert admin.text == f"admin {port + 1}"
        finally:
            srv.stop()


def test_a_failing_port_callback_is_logged_not_fatal(tmp_path):
    script = copy_app(tmp_path)
    script.write_text(
        script.read_text().replace(
            "    serve()\n",
            "    from harness import report_port\n\n"
            "    def callback(name, port):\n"
            "        report_port(name, port)\n"
            "        raise ValueError('callback trouble')\n\n"
            "    serve(port_callback=callback)\n",
        )
    )
    with ServerProcess(script, tmp_path) as srv:
        assert httpx.get(srv.url("/version"), timeout=30).status_code == 200
        assert f"port_callback('main', {srv.port}) raised" in srv.logs()
        assert "ValueError: callback trouble" in srv.logs()

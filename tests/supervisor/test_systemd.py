"""systemd: readiness notifications and socket activation."""

from __future__ import annotations

import signal
import socket
import sys

import httpx
from supervision import copy_app
from support import ServerProcess, wait_for


def receive(sock: socket.socket) -> dict[str, str]:
    fields = sock.recv(4096).decode().splitlines()
    return dict(field.split("=", 1) for field in fields)


def test_notify_socket_gets_ready_reloading_stopping(tmp_path):
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(path))
        notify.settimeout(60)
        srv = ServerProcess(
            copy_app(tmp_path), tmp_path, {"workers": 2}, env={"NOTIFY_SOCKET": str(path)}
        )
        try:
            srv.start()
            assert receive(notify)["READY"] == "1"
            srv.signal(signal.SIGHUP)
            reloading = receive(notify)
            assert reloading["RELOADING"] == "1" and int(reloading["MONOTONIC_USEC"]) > 0
            assert receive(notify)["READY"] == "1"
            srv.signal(signal.SIGTERM)
            assert receive(notify)["STOPPING"] == "1"
            assert srv.wait(60) == 0
        finally:
            srv.stop()


def test_listen_fds_socket_activation(tmp_path):
    """The sockets systemd passes (fd 3 on, LISTEN_PID = the service's pid) are served;
    nothing is bound."""
    with socket.socket() as activated:
        activated.bind(("127.0.0.1", 0))
        activated.listen()
        port = activated.getsockname()[1]
        fd = activated.fileno()
        move = f"exec 3<&{fd} {fd}<&-; " if fd != 3 else ""
        script = copy_app(tmp_path)
        command = [
            "/bin/bash",  # dash cannot name an fd above 9
            "-c",
            move + 'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web.socket exec "$@"',
            "bash",
            sys.executable,
            str(script),
        ]
        kwargs = {"workers": 2, "verbosity": 1}
        srv = ServerProcess(script, tmp_path, kwargs, command=command, pass_fds=(fd,))
        try:
            srv.start(wait=False)
            wait_for(lambda: srv.read_ports().get("main"), timeout=30)
            activated.close()  # systemd keeps its copy; the test needs none
            assert srv.read_ports()["main"] == port
            assert httpx.get(f"http://127.0.0.1:{port}/version", timeout=30).status_code == 200
            srv.signal(signal.SIGHUP)  # reloaded workers get the same socket
            wait_for(lambda: "generation 1 serves" in srv.logs(), timeout=60)
            assert httpx.get(f"http://127.0.0.1:{port}/version", timeout=30).status_code == 200
        finally:
            srv.stop()

"""Helpers shared by the tests: real server processes, raw sockets, polling."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"
START_TIMEOUT = 30.0
# scripts/test runs the suite a second time in scripts/compile's copy (the request path
# compiled), with this set.
COMPILED_RUN = os.environ.get("HWEBSERVER_TEST_COMPILED") == "1"


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until predicate() is truthy; its value is returned, or AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child Python that imports this checkout's hwebserver."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(APPS), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("HWEBSERVER_WORKER", None)
    if extra:
        env.update(extra)
    return env


class ServerProcess:
    """A service script run as `python script.py`, as users run them; stopped by PID."""

    def __init__(
        self,
        script: str | Path,
        tmp_path: Path,
        run_kwargs: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        expect_ports: tuple[str, ...] = ("main",),
        args: tuple[str, ...] = (),
        command: list[str] | None = None,
        pass_fds: tuple[int, ...] = (),
        server_tmp: Path | None = None,
    ) -> None:
        """`server_tmp`: the server's TMPDIR (made here), so a test sees all it leaves there."""
        self.script = Path(script) if Path(script).is_absolute() else APPS / script
        self.tmp_path = tmp_path
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.port_file = tmp_path / f"ports-{time.monotonic_ns()}.jsonl"
        self.log_path = tmp_path / f"server-{time.monotonic_ns()}.log"
        self.run_kwargs = run_kwargs or {}
        self.extra_env = dict(env or {})
        self.server_tmp = server_tmp
        if server_tmp is not None:
            server_tmp.mkdir(parents=True, exist_ok=True)
            self.extra_env["TMPDIR"] = str(server_tmp)
        self.expect_ports = expect_ports
        self.args = args
        self.command = command  # instead of `python script args`
        self.pass_fds = pass_fds
        self.proc: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self._known_pids: set[int] = set()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, wait: bool = True) -> ServerProcess:
        env = python_env(
            {
                "HWEBSERVER_TEST_PORT_FILE": str(self.port_file),
                "HWEBSERVER_TEST_RUN_KWARGS": json.dumps(self.run_kwargs),
                **self.extra_env,
            }
        )
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            self.command or [sys.executable, str(self.script), *self.args],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=str(self.tmp_path),
            pass_fds=self.pass_fds,
        )
        if wait:
            self.wait_ready()
        return self

    def start_and_fail(self, timeout: float = 30.0) -> str:
        """Start a service that must refuse to start: it exits non-zero; its logs."""
        try:
            self.start(wait=False)
            assert self.wait(timeout) != 0, "the service started"
        finally:
            self.stop()
        return self.logs()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.logs()}")
            self.ports = self.read_ports()
            return all(name in self.ports for name in self.expect_ports)

        wait_for(ready, timeout)
        for port in self.ports.values():
            wait_for(lambda port=port: can_connect(port), timeout)

    def read_ports(self) -> dict[str, int]:
        """From the harness's port file; else (no whole line in it yet: the harness creates
        it, then writes) from the start-up lines (the command line)."""
        ports: dict[str, int] = {}
        try:
            text = self.port_file.read_text()
        except FileNotFoundError:
            text = ""
        for line in text.splitlines(keepends=True):
            if line.strip() and line.endswith("\n"):
                record = json.loads(line)
                ports[record["name"]] = record["port"]
        if ports:
            return ports
        return {
            name: int(port)
            for name, port in re.findall(r"serving '([^']+)' on \S+:(\d+)", self.logs())
        }

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def port(self) -> int:
        return self.ports["main"]

    def url(self, path: str = "/", port_name: str = "main") -> str:
        return f"http://127.0.0.1:{self.ports[port_name]}{path}"

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def descendants(self) -> list[psutil.Process]:
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        self._known_pids.update(child.pid for child in children)
        return children

    def signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL; every descendant seen is killed by PID too."""
        if self.proc is None:
            return
        self.descendants()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        kill_pids(self._known_pids)
        self._log.close()

    def __enter__(self) -> ServerProcess:
        try:
            return self.start()
        except BaseException:
            self.stop()  # a server that failed to become ready is still stopped by PID
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PeakRss:
    """While the block runs, samples a process's RSS every 5 ms: `baseline` (on entry), `peak`."""

    def __init__(self, process: psutil.Process, interval: float = 0.005) -> None:
        self.process = process
        self.interval = interval
        self.baseline = 0
        self.peak = 0
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = self.process.memory_info().rss
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._sampler.join(timeout=10)


def tcp_connections(process: psutil.Process) -> list[Any]:
    """The process's TCP sockets as the kernel lists them. net_connections() is psutil 6's name
    for connections(); psutil 5.9 is a supported floor (scripts/test-min-versions)."""
    listing = getattr(process, "net_connections", None) or process.connections
    return list(listing("tcp"))


def kill_pids(pids: set[int], timeout: float = 5.0) -> None:
    alive = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            process = psutil.Process(pid)
            process.kill()
            alive.append(process)
    psutil.wait_procs(alive, timeout=timeout)


def can_connect(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def raw_exchange(
    port: int,
    data: bytes,
    timeout: float = 10.0,
    read_until_close: bool = True,
    host: str = "127.0.0.1",
) -> bytes:
    """Send raw bytes, read what comes back until the server closes (or the timeout)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        return read_all(sock, timeout, read_until_close)


def read_all(sock: socket.socket, timeout: float = 10.0, until_close: bool = True) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if until_close:
                raise
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        if not until_close:
            sock.settimeout(0.3)
    return b"".join(chunks)


_LEFTOVERS: dict[int, bytes] = {}


def read_response(sock: socket.socket, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Read exactly one Content-Length-framed response from a keep-alive socket.

    Bytes of the following responses (pipelining) are kept for the next call on that socket.
    """
    sock.settimeout(timeout)
    buffer = _LEFTOVERS.pop(sock.fileno(), b"")
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a full head: {buffer!r}")
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the full body")
        rest += chunk
    if len(rest) > length:
        _LEFTOVERS[sock.fileno()] = rest[length:]
    return status, headers, rest[:length]


def parse_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


@contextlib.contextmanager
def server(
    tmp_path: Path, script: str = "echo_app.py", **run_kwargs: Any
) -> Iterator[ServerProcess]:
    with ServerProcess(script, tmp_path, run_kwargs) as process:
        yield process


@contextlib.contextmanager
def upstream_server(body: bytes = b"pong") -> Iterator[str]:
    """A plain HTTP server in this process, on a free loopback port, answering `body` to every
    GET: something a service under test can call (with httpx, urllib...). Yields its URL."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)

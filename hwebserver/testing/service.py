"""A service started as users start it (`hwebserver service.py ...` or `python service.py`),
supervised, in its own process group: what the `hwebserver_service` fixture hands a test.

Nothing here imports the server: the service is another program, seen from outside through
its log, its ports, its signals and its processes.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import psutil

START_TIMEOUT = 30.0
RELOAD_TIMEOUT = 60.0
# A graceful stop finishes requests in flight for up to GRACEFUL_TIMEOUT (30 s by default).
STOP_TIMEOUT = 45.0
# After the service's own process ended, how long the rest of its group may take to follow.
LEFTOVER_GRACE = 5.0
# The start-up line of each listener, at every verbosity: "serving 'main' on http://...:8008".
SERVING = re.compile(r"serving '([^']+)' on (https?)://(\S+):(\d+)")
# The supervisor's lines of a reload's outcome, at every verbosity.
RELOADED = re.compile(r"reloaded: generation (\d+) serves")
# The pids of each generation as it began serving: the first, then each reload's.
GENERATION_PIDS = re.compile(
    r"supervisor \d+ serving with \d+ worker\(s\): ([\d, ]+)|reloaded: generation \d+ serves \(workers ([\d, ]+)"
)
RELOAD_FAILED = re.compile(r"reload failed \(generation (\d+)\)")
REACHABLE = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]"}
# The supervisor's child that watches source files (with --reload) is not a worker.
WATCHER_MODULE = "supervisor.watcher"
PORT_OPTIONS = ("--port", "--bind", "--host")


class ServiceFailed(AssertionError):
    """The service did not start, reload or stop as expected; the message ends with its log."""


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g}s")
        time.sleep(0.02)


class Service:
    """One running service. `url` is its main port's base URL (`service.url + "/hello"`),
    `log` everything it wrote to stdout and stderr so far."""

    def __init__(
        self, command: list[str], log_path: Path, env: Mapping[str, str], cwd: str | None
    ) -> None:
        self.command = command
        self.log_path = log_path
        self.env = dict(env)
        self.cwd = cwd
        self.ports: dict[str, int] = {}
        self.urls: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._seen: set[int] = set()  # every process of the service noticed, killed if left

    # -- start ---------------------------------------------------------------------------------
    def start(self, timeout: float = START_TIMEOUT) -> Service:
        self._log_file = open(self.log_path, "wb")
        self._process = subprocess.Popen(
            self.command,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,  # its own process group: stopped whole at teardown
        )
        self._seen.add(self._process.pid)
        try:
            wait_until(self._listening, timeout, "the service's start-up lines")
            wait_until(self._ready, timeout, "the service answering")
        except TimeoutError as exc:
            raise self.failure(f"{self} did not become ready: {exc}") from None
        return self

    def _listening(self) -> bool:
        self._check_alive()
        for name, scheme, host, port in SERVING.findall(self.log):
            host = REACHABLE.get(host, host)
            self.ports[name] = int(port)
            self.urls[name] = f"{scheme}://{host}:{port}"
        return "main" in self.ports

    def _ready(self) -> bool:
        """/readyz where the admin endpoints are (`--admin-port`), else an HTTP answer on the
        main port: a worker accepts (a connection alone waits in the supervisor's backlog)."""
        self._check_alive()
        self._remember_processes()
        if "admin" in self.ports:
            return readyz(self.urls["admin"])
        return answers_http(self.urls["main"])

    def _check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise self.failure(f"{self} exited with status {code}")

    # -- what a test reads ---------------------------------------------------------------------
    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("the service was never started")
        return self._process

    @property
    def pid(self) -> int:
        """The service's own process: the supervisor (signals go to it)."""
        return self.process.pid

    @property
    def port(self) -> int:
        return self.ports["main"]

    @property
    def url(self) -> str:
        return self.urls["main"]

    @property
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def workers(self) -> set[int]:
        """The worker processes serving now: the supervisor's children but its file watcher
        and the workers of an earlier generation still draining after a reload."""
        pids: set[int] = set()
        retired = self._retired_workers()
        try:
            children = psutil.Process(self.pid).children()
        except psutil.NoSuchProcess:
            return pids
        for child in children:
            with contextlib.suppress(psutil.Error):
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
                if WATCHER_MODULE not in " ".join(child.cmdline()):
                    pids.add(child.pid)
        self._seen.update(pids)
        return pids - retired

    def _retired_workers(self) -> set[int]:
        generations = [
            {int(pid) for pid in (first or reloaded).split(",") if pid.strip()}
            for first, reloaded in GENERATION_PIDS.findall(self.log)
        ]
        if not generations:
            return set()
        return set().union(*generations[:-1]) - generations[-1]

    def __repr__(self) -> str:
        pid = self._process.pid if self._process is not None else None
        return f"<service pid {pid}: {' '.join(self.command[1:])}>"

    # -- signals -------------------------------------------------------------------------------
    def signal(self, signum: int) -> None:
        self._remember_processes()
        os.kill(self.pid, signum)

    def reload(self, timeout: float = RELOAD_TIMEOUT) -> None:
        """SIGHUP; return once the new generation serves (the supervisor's 'reloaded' line).
        A reload that fails (the new code does not start) raises ServiceFailed."""
        done = len(RELOADED.findall(self.log))
        failed = len(RELOAD_FAILED.findall(self.log))
        self.signal(signal.SIGHUP)

        def finished() -> bool:
            self._check_alive()
            log = self.log
            if len(RELOAD_FAILED.findall(log)) > failed:
                raise self.failure(f"{self}: the reload failed")
            return len(RELOADED.findall(log)) > done

        try:
            wait_until(finished, timeout, "the new generation serving")
        except TimeoutError as exc:
            raise self.failure(f"{self}: {exc}") from None
        self._remember_processes()

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM (a graceful stop), wait for the service's process; kill its whole group if
        it takes longer than `timeout`. Returns its exit status."""
        process = self.process
        if process.poll() is None:
            self._remember_processes()
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill_group()
                process.wait(timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return process.returncode

    # -- what is left --------------------------------------------------------------------------
    def leftovers(self) -> list[psutil.Process]:
        """Live processes of the service after its own process ended: any descendant seen,
        and any process in its group or in a group of a descendant seen (each worker leads a
        process group of its own, where a child a handler starts stays)."""
        left = []
        groups = {self.pid} | self._seen
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error, OSError):
                belongs = process.pid in self._seen or os.getpgid(process.pid) in groups
                if belongs and process.pid != self.pid:
                    if process.status() != psutil.STATUS_ZOMBIE:
                        left.append(process)
        return left

    def _remember_processes(self) -> None:
        with contextlib.suppress(psutil.Error):
            self._seen.update(c.pid for c in psutil.Process(self.pid).children(recursive=True))

    def _kill_group(self) -> None:
        """SIGKILL to the service's process group and to every process of it seen (workers
        lead groups of their own)."""
        self._remember_processes()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for pid in self._seen - {self.pid}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def finish(self) -> str | None:
        """Stop it, and make sure nothing of it is left: what went wrong, or None."""
        problem = None
        if self.process.poll() is None:
            self.stop()
            if self.process.returncode == -signal.SIGKILL:
                problem = f"{self} did not stop within {STOP_TIMEOUT:g}s of SIGTERM: killed"
        try:
            wait_until(lambda: not self.leftovers(), LEFTOVER_GRACE, "the service's processes")
        except TimeoutError:
            left = self.leftovers()
            names = ", ".join(f"{p.pid} ({describe(p)})" for p in left)
            for process in left:
                with contextlib.suppress(psutil.Error):
                    process.kill()
            psutil.wait_procs(left, timeout=5)
            problem = f"{self} left {len(left)} process(es) running after it stopped: {names}"
        return problem

    def failure(self, message: str) -> ServiceFailed:
        return ServiceFailed(f"{message}\n--- its log ({self.log_path}) ---\n{self.log}")


def describe(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())[:120]
    except psutil.Error:
        return "?"


class Services:
    """The services one test starts (the `hwebserver_service` fixture): `start()` each, and
    `finish()` stops them all at the end of the test."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[Service] = []

    def start(
        self,
        script: str | os.PathLike[str],
        *cli_args: str,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        as_script: bool = False,
        timeout: float = START_TIMEOUT,
    ) -> Service:
        """`hwebserver SCRIPT --port 0 CLI_ARGS...` (the OS picks the port unless the arguments
        give one), or with `as_script=True` `python SCRIPT CLI_ARGS...`, whose run() must then
        choose a free port itself (e.g. from an environment variable given in `env`)."""
        path = os.fspath(script)
        if as_script:
            command = [sys.executable, path, *cli_args]
        else:
            command = [sys.executable, "-m", "hwebserver", path, *cli_args]
            if not any(arg.split("=", 1)[0] in PORT_OPTIONS for arg in cli_args):
                command += ["--port", "0"]
        environment = dict(os.environ)
        environment.pop("HWEBSERVER_WORKER", None)  # a started worker's marker, not inherited
        environment["PYTHONUNBUFFERED"] = "1"  # its log lines as they happen
        environment.update(env or {})
        log_path = self.directory / f"service-{len(self.started) + 1}.log"
        service = Service(command, log_path, environment, os.fspath(cwd) if cwd else None)
        self.started.append(service)
        return service.start(timeout)

    def finish(self) -> list[str]:
        """Stop every service (also after a failed test); the problems found."""
        problems = []
        for service in self.started:
            problem = service.finish()
            if problem is not None:
                problems.append(problem)
        return problems


def readyz(base_url: str) -> bool:
    try:
        return http_status(base_url, "GET", "/readyz") == 200
    except OSError:
        return False


def answers_http(base_url: str) -> bool:
    """Whether an HTTP answer comes back (`OPTIONS *`, which runs no handler of the service)."""
    try:
        return http_status(base_url, "OPTIONS", "*") > 0
    except OSError:
        return False


def http_status(base_url: str, method: str, target: str) -> int:
    scheme, _, address = base_url.partition("://")
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    connection: http.client.HTTPConnection
    if scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(host, int(port), timeout=5, context=context)
    else:
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(method, target)
        return connection.getresponse().status
    except (TimeoutError, http.client.HTTPException) as exc:
        raise OSError(str(exc)) from exc
    finally:
        connection.close()

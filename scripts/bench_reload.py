"""Reload and crash figures under load, for the supervisor's closing note.

Each window: wrk loads a copy of scripts/bench_apps/reload_service.py for a few seconds; in
the middle of it the script either

- edits VERSION and sends SIGHUP, then measures the time until a new connection gets the new
  code (polling every millisecond or so), or
- kills one worker with SIGKILL, then measures the time until the supervisor logs the
  replacement READY (the log is polled likewise),

and wrk's errors (connect, read, write, timeout, non-2xx) over the whole window are counted
as failed requests. First the kills hit generation 0 (forked replacements), then come the
reloads, then kills in the reloaded generation (replacements spawned from the command line).
The oldest worker is killed, so the crash backoff (for workers dying within 10 s of being
ready) stays out of the figures. The machine may be shared: figures are medians with their
spread.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "scripts" / "bench_apps" / "reload_service.py"
PYTHON = ROOT / ".venv" / "bin" / "python"
POLL = 0.001
EVENTS = (
    "SIGKILL of a forked worker -> READY",
    "SIGHUP -> new code answering",
    "SIGKILL of a spawned worker -> READY",
)


@dataclass
class Window:
    event: str
    seconds: float  # SIGHUP -> new code answering, or SIGKILL -> replacement READY
    failed: int
    requests: int
    errors: str


class Service:
    def __init__(self, workdir: Path, workers: int) -> None:
        self.script = workdir / "reload_service.py"
        shutil.copy(SERVICE, self.script)
        self.log_path = workdir / "service.log"
        self.log = open(self.log_path, "wb")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKERS": str(workers)}
        self.process = subprocess.Popen(
            [str(PYTHON), str(self.script)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=str(workdir),
            env=env,
        )
        self.port = self._wait_for_port()
        self.version = 1

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = re.search(r"serving 'main' on \S+:(\d+)", self.logs())
            # Every worker READY: "supervisor N serving with W worker(s): ..."
            if found and " serving with " in self.logs():
                return int(found.group(1))
            time.sleep(0.05)
        self.stop()  # not left running behind the bench
        raise SystemExit(f"the service did not start:\n{self.logs()}")

    def oldest_worker(self) -> int:
        children = psutil.Process(self.process.pid).children()
        return min(children, key=lambda child: child.create_time()).pid

    def get(self) -> str:
        """One request on a new connection; '' on any failure."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := sock.recv(4096):
                    data += chunk
            return data.partition(b"\r\n\r\n")[2].decode()
        except OSError:
            return ""

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


def start_wrk(port: int, seconds: float, threads: int, connections: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "5s",
            f"http://127.0.0.1:{port}/version",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wrk_failures(output: str) -> tuple[int, int, str]:
    """(failed requests, requests, the error line) from wrk's summary."""
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    failed = 0
    errors = ""
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if socket_errors:
        errors = socket_errors.group(1)
        failed += sum(int(n) for n in re.findall(r"\d+", errors))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        failed += int(non_2xx.group(1))
        errors += f" non-2xx {non_2xx.group(1)}"
    return failed, requests, errors.strip() or "none"


def reload_window(service: Service, lead: float) -> float:
    time.sleep(lead)
    old, new = f"v{service.version}", f"v{service.version + 1}"
    text = service.script.read_text()
    service.script.write_text(text.replace(f'VERSION = "{old}"', f'VERSION = "{new}"'))
    service.version += 1
    started = time.monotonic()
    os.kill(service.process.pid, signal.SIGHUP)
    while service.get() != new:
        if time.monotonic() - started > 60:
            raise SystemExit(f"the new code never answered:\n{service.logs()[-3000:]}")
        time.sleep(POLL)
    return time.monotonic() - started


def kill_window(service: Service, lead: float) -> float:
    time.sleep(lead)
    victim = service.oldest_worker()
    seen = service.logs()
    started = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    pattern = re.compile(r"worker (\d+) \(generation \d+\) ready in")
    while True:
        fresh = service.logs()[len(seen) :]
        if any(int(pid) != victim for pid in pattern.findall(fresh)):
            return time.monotonic() - started
        if time.monotonic() - started > 60:
            raise SystemExit(f"no replacement READY:\n{service.logs()[-3000:]}")
        time.sleep(POLL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each event")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0, help="wrk duration per window")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--output", default=str(ROOT / "bench-results" / "bench_reload.json"))
    args = parser.parse_args()
    windows: list[Window] = []
    with tempfile.TemporaryDirectory(prefix="bench-reload-") as workdir:
        service = Service(Path(workdir), args.workers)
        try:
            plan = [
                *[(EVENTS[0], kill_window)] * args.rounds,
                *[(EVENTS[1], reload_window)] * args.rounds,
                *[(EVENTS[2], kill_window)] * args.rounds,
            ]
            for event, act in plan:
                wrk = start_wrk(service.port, args.seconds, args.threads, args.connections)
                seconds = act(service, args.seconds / 3)
                output, _ = wrk.communicate(timeout=args.seconds + 60)
                failed, requests, errors = wrk_failures(output)
                windows.append(Window(event, seconds, failed, requests, errors))
                print(
                    f"{event:42}: {seconds * 1000:7.1f} ms, {failed} failed of {requests} "
                    f"({errors})",
                    flush=True,
                )
                time.sleep(1.0)  # let retiring workers finish before the next window
        finally:
            service.stop()
    report(windows, args)


def report(windows: list[Window], args: argparse.Namespace) -> None:
    summary = {}
    print(
        f"\n{args.workers} workers, wrk -t{args.threads} -c{args.connections}, {args.rounds} rounds"
    )
    for event in EVENTS:
        chosen = [w for w in windows if w.event == event]
        times = sorted(w.seconds * 1000 for w in chosen)
        failed = [w.failed for w in chosen]
        summary[event] = {
            "median_ms": statistics.median(times),
            "min_ms": times[0],
            "max_ms": times[-1],
            "failed_per_window": failed,
            "requests_per_window": [w.requests for w in chosen],
            "errors": [w.errors for w in chosen],
        }
        print(
            f"{event:42}: median {statistics.median(times):7.1f} ms "
            f"(min {times[0]:.1f}, max {times[-1]:.1f}); failed requests per window {failed}"
        )
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"args": vars(args), "summary": summary}, indent=2))
    print(f"written to {output}")


if __name__ == "__main__":
    sys.exit(main())

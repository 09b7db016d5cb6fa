"""Crash-respawn figures under a chaos soak, for the supervisor's closing note.

A copy of scripts/bench_apps/reload_service.py runs with N workers while a client loop sends
light load (one request per new connection, back to back, at 127.0.0.1) and a worker chosen
at random (seeded) is killed with SIGKILL every --interval seconds for --seconds. Printed:

- the longest time with no live worker: from the SIGKILL of the last READY worker to the
  next "ready in" line of the supervisor's log (the log is read with its millisecond
  timestamps; the kills are timed here);
- the longest gap between two answered requests as the client saw it (a connection made
  while no worker is live waits in the listen backlog, so this is the same outage plus the
  time of one request);
- the longest such period the supervisor itself logged ("a worker serves again, after
  ...s with no live worker"; versions before that log line print "-");
- requests answered and failed (a request in flight inside a killed worker fails with it,
  whatever the server).

Bounded: the soak stops after --seconds; every process started is stopped by its pid.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
SERVICE = ROOT / "scripts" / "bench_apps" / "reload_service.py"
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \[hwebserver \d+\] \w+ (.*)$")
READY = re.compile(r"worker (\d+) \(generation \d+\) ready in")
GONE = re.compile(r"worker (\d+) \(generation \d+\) (?:exited|failed|sent no|was killed)")


class Service:
    def __init__(self, workdir: Path, workers: int) -> None:
        script = workdir / "service.py"
        shutil.copy(SERVICE, script)
        self.log_path = workdir / "service.log"
        self.log = open(self.log_path, "wb")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKERS": str(workers)}
        self.process = subprocess.Popen(
            [sys.executable, str(script)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=str(workdir),
            env=env,
        )
        self.port = self._wait_until_serving()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_until_serving(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            logs = self.logs()
            found = re.search(r"serving 'main' on \S+:(\d+)", logs)
            if found and "all " in logs:
                return int(found.group(1))
            time.sleep(0.05)
        self.stop()
        raise SystemExit(f"the service did not start:\n{self.logs()}")

    def workers(self) -> list[int]:
        """Its live worker processes (not zombies)."""
        pids = []
        for child in psutil.Process(self.process.pid).children():
            try:
                if child.status() != psutil.STATUS_ZOMBIE:
                    pids.append(child.pid)
            except psutil.NoSuchProcess:
                continue
        return pids

    def stop(self) -> None:
        """SIGTERM, then SIGKILL of the supervisor and of every worker it still has."""
        try:
            leftovers = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            leftovers = []
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        for child in leftovers:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass
        self.log.close()


@dataclass
class ClientLoop:
    """One request per new connection, back to back, until told to stop."""

    port: int
    answered: list[float] = field(default_factory=list)  # time.time() of each answer
    failed: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        request = b"GET /version HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=60) as sock:
                    sock.sendall(request)
                    data = b""
                    while chunk := sock.recv(4096):
                        data += chunk
                if data.startswith(b"HTTP/1.1 200"):
                    self.answered.append(time.time())
                else:
                    self.failed += 1
            except OSError:
                self.failed += 1
            time.sleep(0.005)

    def longest_gap(self) -> float:
        times = self.answered
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def log_events(logs: str) -> list[tuple[float, str, int]]:
    """(time, "ready" or "gone", pid) from the supervisor's log lines."""
    events = []
    for line in logs.splitlines():
        match = LOG_LINE.match(line)
        if not match:
            continue
        stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for kind, pattern in (("ready", READY), ("gone", GONE)):
            found = pattern.search(match.group(2))
            if found:
                events.append((stamp, kind, int(found.group(1))))
    return events


def no_live_worker_periods(
    kills: list[tuple[float, int]], events: list[tuple[float, str, int]], start: float, end: float
) -> list[float]:
    """The lengths of the periods with no READY worker alive that began in [start, end]
    (one still open at the last event counts until then)."""
    timeline = sorted([(t, "gone", pid) for t, pid in kills] + events)
    live: set[int] = set()
    periods = []
    empty_since: float | None = None
    for stamp, kind, pid in timeline:
        if kind == "ready":
            live.add(pid)
        else:
            live.discard(pid)
        if not live and empty_since is None and start <= stamp <= end:
            empty_since = stamp
        elif live and empty_since is not None:
            periods.append(stamp - empty_since)
            empty_since = None
    if empty_since is not None:
        periods.append(timeline[-1][0] - empty_since)
    return periods


def soak(workers: int, seconds: float, interval: float, seed: int) -> None:
    chooser = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="bench-respawn-") as workdir:
        service = Service(Path(workdir), workers)
        client = ClientLoop(service.port)
        thread = threading.Thread(target=client.run, daemon=True)
        kills: list[tuple[float, int]] = []
        try:
            thread.start()
            time.sleep(1.0)
            start = time.time()
            while time.time() - start < seconds:
                pids = service.workers()
                if pids:
                    victim = chooser.choice(sorted(pids))
                    kills.append((time.time(), victim))
                    os.kill(victim, signal.SIGKILL)
                time.sleep(interval)
            end = time.time()
            # An outage still open at the end counts until the next answer.
            deadline = time.monotonic() + 60
            while not (client.answered and client.answered[-1] > end):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            time.sleep(0.5)  # the log catches up
            logs = service.logs()
        finally:
            client.stop.set()
            service.stop()
            thread.join(70)
    periods = no_live_worker_periods(kills, log_events(logs), start, end)
    logged = [float(s) for s in re.findall(r"serves again, after (\d+\.\d+)s", logs)]
    print(
        f"workers={workers}: {len(kills)} kills in {seconds:g}s (none when no worker was "
        f"there to kill); no live worker: "
        f"longest {max(periods, default=0.0):.2f}s, {len(periods)} period(s), "
        f"{sum(periods):.2f}s in all (as logged: "
        f"{f'{max(logged):.2f}s' if logged else '-'}); longest gap between answers "
        f"{client.longest_gap():.2f}s; {len(client.answered)} answered, {client.failed} failed",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the soak")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between kills")
    parser.add_argument("--seed", type=int, default=1, help="for the choice of the victim")
    args = parser.parse_args()
    for workers in args.workers:
        soak(workers, args.seconds, args.interval, args.seed)


if __name__ == "__main__":
    main()

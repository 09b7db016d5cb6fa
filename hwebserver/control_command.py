"""`hwebserver status|reload|stop`: operate a running service, found by its pid file
(--pid-file, written by a service started with the same option) or its admin port.

status   one line per worker (pid, generation, uptime, requests, in flight, RSS, loop lag) and
         the service's totals, from /metrics on the admin port
reload   SIGHUP to the supervisor, then waits for the outcome (the reload counters of
         /metrics; without an admin port, the workers being replaced) and prints it
stop     SIGTERM to the supervisor, then waits for it to exit and prints how long it took

Exit status: 0 done; 1 failed (a reload that failed, a stop that timed out); 3 the service is
not running (as LSB init scripts' `status`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .api.internal.declarations import CommandLineForm, add_command_line_flags, declare

SUBCOMMANDS = ("status", "reload", "stop")
NOT_RUNNING = 3
POLL_INTERVAL = 0.1


@dataclass(frozen=True)
class ServingOptions:
    """The options `hwebserver APP` takes for these commands, declared as run()'s arguments
    and the settings are (api/internal/declarations.py). Neither is a run() argument: the
    command line keeps them apart (command_line.py)."""

    admin_port: int | None = field(
        default=None,
        metadata=declare(
            "a port named 'admin' with ADMIN_ENDPOINTS",
            CommandLineForm(
                "--admin-port",
                "open a port named 'admin' serving /metrics, /livez and /readyz (ADMIN_ENDPOINTS)",
                parse=int,
            ),
        ),
    )
    pid_file: str | None = field(
        default=None,
        metadata=declare(
            "the file the supervisor writes its pid (and the admin URL) to",
            CommandLineForm(
                "--pid-file",
                "write the supervisor's pid (and the admin URL) here; `hwebserver "
                "status|reload|stop --pid-file FILE` find the service by it",
            ),
        ),
    )


def add_serving_options(parser: argparse.ArgumentParser) -> None:
    """The options `hwebserver APP` takes for these commands."""
    add_command_line_flags(parser, ServingOptions)


def is_subcommand(argv: Sequence[str] | None) -> bool:
    arguments = list(sys.argv[1:] if argv is None else argv)
    return bool(arguments) and arguments[0] in SUBCOMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hwebserver",
        description="Operate a running hwebserver service.",
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=SUBCOMMANDS)
    parser.add_argument("--pid-file", help="the pid file the service was started with")
    parser.add_argument("--admin-port", type=int, help="the service's admin port")
    parser.add_argument(
        "--address", default="127.0.0.1", help="host of the admin port (default 127.0.0.1)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=90.0,
        help="seconds reload and stop wait for the outcome (default 90)",
    )
    return parser


class CommandError(Exception):
    """Printed as one line; carries the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Service:
    pid: int | None
    admin_url: str | None


def locate(options: argparse.Namespace) -> Service:
    pid: int | None = None
    url: str | None = None
    if options.pid_file:
        try:
            with open(options.pid_file) as file:
                lines = file.read().split()
        except FileNotFoundError:
            raise CommandError(
                f"not running: no pid file {options.pid_file}", NOT_RUNNING
            ) from None
        except OSError as exc:
            raise CommandError(f"cannot read the pid file {options.pid_file}: {exc}") from None
        if not lines or not lines[0].isdigit():
            raise CommandError(f"the pid file {options.pid_file} holds no pid")
        pid = int(lines[0])
        url = lines[1] if len(lines) > 1 else None
    if options.admin_port is not None:
        host = f"[{options.address}]" if ":" in options.address else options.address
        url = f"http://{host}:{options.admin_port}"
    if pid is None and url is None:
        raise CommandError("say where the service is: --pid-file FILE or --admin-port PORT")
    return Service(pid, url)


# -- reading /metrics --------------------------------------------------------------------------
@dataclass
class WorkerRow:
    pid: int
    generation: int
    values: dict[str, float] = field(default_factory=dict)


@dataclass
class Scrape:
    supervisor_pid: int | None = None
    generation: str = ""
    uptime: float = 0.0
    ready: bool = True
    reloads: dict[str, float] = field(default_factory=dict)
    requests: dict[str, float] = field(default_factory=dict)
    workers: dict[int, WorkerRow] = field(default_factory=dict)


WORKER_VALUES = {
    "hwebserver_worker_uptime_seconds": "uptime",
    "hwebserver_worker_served_total": "served",
    "hwebserver_worker_in_flight": "in_flight",
    "hwebserver_worker_rss_bytes": "rss",
    "hwebserver_worker_loop_lag_seconds": "lag",
    "hwebserver_worker_connections": "connections",
    "hwebserver_worker_websockets": "websockets",
}


def scrape(url: str, timeout: float = 10.0) -> Scrape:
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=timeout) as response:
            text = response.read().decode("utf-8")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CommandError(f"no answer from {url}/metrics: {reason}", NOT_RUNNING) from None
    result = Scrape()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            _take(result, sample.name, sample.labels, sample.value)
    return result


def _take(result: Scrape, name: str, labels: dict[str, str], value: float) -> None:
    if name == "hwebserver_supervisor_info":
        result.supervisor_pid = int(labels["pid"])
        result.generation = labels.get("generation", "")
    elif name == "hwebserver_supervisor_uptime_seconds":
        result.uptime = value
    elif name == "hwebserver_ready":
        result.ready = value > 0
    elif name == "hwebserver_reloads_total":
        result.reloads[labels["outcome"]] = value
    elif name == "hwebserver_requests_total":
        result.requests[labels["status"]] = value
    elif name in WORKER_VALUES and "pid" in labels:
        pid = int(labels["pid"])
        row = result.workers.setdefault(pid, WorkerRow(pid, int(labels["generation"])))
        row.values[WORKER_VALUES[name]] = value


# -- formatting ---------------------------------------------------------------------------------
def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s"


def _mib(size: float) -> str:
    return f"{size / 1048576:.1f} MiB"


def format_status(result: Scrape) -> list[str]:
    state = "ready" if result.ready else "shutting down"
    reloads = (
        f"{int(result.reloads.get('succeeded', 0))} reload(s), "
        f"{int(result.reloads.get('failed', 0))} failed"
    )
    who = f"supervisor {result.supervisor_pid}"
    if set(result.workers) == {result.supervisor_pid}:
        who = f"pid {result.supervisor_pid} (serving itself, no supervisor)"
    lines = [
        f"{who}: {state}, generation {result.generation}, up {_duration(result.uptime)}, {reloads}",
        f"{'PID':>8} {'GEN':>4} {'UPTIME':>10} {'REQUESTS':>10} {'IN FLIGHT':>9} "
        f"{'RSS':>11} {'LOOP LAG':>9}",
    ]
    for row in sorted(result.workers.values(), key=lambda r: (r.generation, r.pid)):
        values = row.values
        lines.append(
            f"{row.pid:>8} {row.generation:>4} {_duration(values.get('uptime', 0)):>10} "
            f"{int(values.get('served', 0)):>10} {int(values.get('in_flight', 0)):>9} "
            f"{_mib(values.get('rss', 0)):>11} {values.get('lag', 0) * 1000:>7.1f}ms"
        )
    workers = result.workers.values()
    by_class = ", ".join(
        f"{name} {int(count)}" for name, count in sorted(result.requests.items()) if count
    )
    served = int(sum(r.values.get("served", 0) for r in workers))
    lifetime = int(sum(result.requests.values()))
    lines.append(
        f"total: {len(result.workers)} worker(s), {served} request(s) served by them; "
        f"{lifetime} since the service started ({by_class or 'none'}); "
        f"{int(sum(r.values.get('in_flight', 0) for r in workers))} in flight; "
        f"RSS {_mib(sum(r.values.get('rss', 0) for r in workers))}"
    )
    return lines


# -- the commands -------------------------------------------------------------------------------
def _running(pid: int) -> bool:
    """Alive and not a zombie (a service whose parent has not reaped it yet has stopped)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _supervisor_pid(service: Service) -> int:
    pid = service.pid
    if pid is None:
        assert service.admin_url is not None
        pid = scrape(service.admin_url).supervisor_pid
        if pid is None:
            raise CommandError(f"{service.admin_url}/metrics names no supervisor")
    if not _running(pid):
        raise CommandError(f"not running: no process {pid}", NOT_RUNNING)
    return pid


def status(service: Service) -> list[str]:
    pid = _supervisor_pid(service)
    if service.admin_url is None:
        return _status_without_admin(pid)
    return format_status(scrape(service.admin_url))


def _status_without_admin(pid: int) -> list[str]:
    """No admin port: what the process table says (no request counts)."""
    import psutil

    lines = [f"supervisor {pid}: running (no admin port: start it with --admin-port for more)"]
    workers = _workers(pid)
    if not workers:  # run(supervisor=False): the process serves itself
        return [
            f"pid {pid}: running, serving itself (no admin port: start it with --admin-port "
            "for more)"
        ]
    now = time.time()
    for child in workers:
        try:
            with child.oneshot():
                rss, started = child.memory_info().rss, child.create_time()
        except psutil.Error:
            continue
        lines.append(f"{child.pid:>8} up {_duration(now - started):>10} {_mib(rss):>11}")
    return lines


def reload(service: Service, timeout: float) -> list[str]:
    pid = _supervisor_pid(service)
    before = scrape(service.admin_url) if service.admin_url is not None else None
    old_workers = _worker_pids(pid)
    started = time.monotonic()
    os.kill(pid, signal.SIGHUP)
    if before is None and not old_workers:
        # A service serving itself (no supervisor) keeps its pid through a reload: only its
        # admin port's counters tell the outcome.
        return [
            f"sent SIGHUP to pid {pid}, which serves itself: its log says the outcome "
            "(start it with --admin-port to see it here)"
        ]
    deadline = started + timeout
    while time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
        if not _running(pid):
            raise CommandError(f"supervisor {pid} exited during the reload")
        if before is not None and service.admin_url is not None:
            now = scrape(service.admin_url)
            if now.reloads.get("failed", 0) > before.reloads.get("failed", 0):
                raise CommandError(
                    f"reload failed after {time.monotonic() - started:.1f}s; generation "
                    f"{now.generation} keeps serving (the service's log says why)"
                )
            if now.reloads.get("succeeded", 0) > before.reloads.get("succeeded", 0):
                workers = sorted(
                    r.pid for r in now.workers.values() if str(r.generation) == now.generation
                )
                return [
                    f"reloaded in {time.monotonic() - started:.1f}s: generation "
                    f"{now.generation} serves (workers {', '.join(map(str, workers))})"
                ]
        else:
            current = _worker_pids(pid)
            if current and not current & old_workers:
                return [
                    f"reloaded in {time.monotonic() - started:.1f}s: workers "
                    f"{', '.join(map(str, sorted(current)))}"
                ]
    raise CommandError(
        f"no outcome within {timeout:g}s: the reload failed or is slow (the service's log says)"
    )


def _workers(pid: int) -> list[Any]:
    """The supervisor's worker processes: its children, less the source-file watcher."""
    import psutil

    try:
        children = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    workers = []
    for child in children:
        try:
            if "supervisor.watcher" not in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.Error:
            continue
    return workers


def _worker_pids(pid: int) -> set[int]:
    return {child.pid for child in _workers(pid)}


def stop(service: Service, timeout: float) -> list[str]:
    pid = _supervisor_pid(service)
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while _running(pid):
        if time.monotonic() - started > timeout:
            raise CommandError(f"supervisor {pid} still running after {timeout:g}s")
        time.sleep(POLL_INTERVAL)
    return [f"stopped supervisor {pid} in {time.monotonic() - started:.1f}s"]


def main(argv: Sequence[str] | None = None) -> int:
    options = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        service = locate(options)
        if options.command == "status":
            lines = status(service)
        elif options.command == "reload":
            lines = reload(service, options.timeout)
        else:
            lines = stop(service, options.timeout)
    except CommandError as exc:
        print(f"hwebserver {options.command}: {exc}", file=sys.stderr)
        return exc.status
    for line in lines:
        print(line)
    return 0

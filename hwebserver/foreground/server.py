"""Serving without a supervisor: the process that called run() serves in the foreground
itself, as Houdini does. Handlers run on its threads and see its pid and its one module state.

It serves with the worker's serving code (worker/process/server.py) on uvloop in the main
thread, and is its own service for the operator: signals, the pid file, systemd
notifications, /metrics, /livez and /readyz, reloads.

A reload (SIGHUP, or a saved source file with `reload_source_changes`) keeps the pid and the
listening sockets: the new code is first checked in a short-lived child (check.py; a broken
edit is logged and the old code serves on), then the requests in progress are finished
(WebSockets closed with 1001) while the listening sockets stay open, and the process
re-executes itself in place with them (handover.py). Connections that arrive meanwhile wait
in the listen backlog; none is refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from typing import Any

import psutil

from ..supervisor import pidfile, spawn
from ..supervisor.metrics import ServiceCounters
from ..supervisor.options import RunOptions
from ..supervisor.systemd import Notifier
from ..supervisor.watcher import WatcherKeeper
from ..worker.admin import endpoints as admin
from ..worker.common.config import Listener
from ..worker.common.logs import ServerLog, reopen_log_files
from ..worker.common.messages import MetricsSnapshot, Unready
from ..worker.process import linux
from ..worker.process.server import WorkerServer
from ..worker.process.sources import application_sources
from . import handover as handover_module
from .check import CheckResult, check_new_code
from .handover import Handover

CLOCK_INTERVAL = 1.0
# A reload's drain leaves idle keep-alive connections open this long, so a client about to
# send on one gets its answer (with Connection: close) rather than a close under its request;
# then they are closed. Requests in progress have GRACEFUL_TIMEOUT.
IDLE_GRACE = 1.0
# Before exec(): the loop turns once more for a signal another thread caught.
SIGNAL_SETTLE = 0.02
GRACEFUL = "graceful"
IMMEDIATE = "immediate"


class LoopReaders:
    """The event loop as the source watcher's selector (supervisor/watcher.py)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def register(self, fileobj: int, events: int, data: Any = None) -> None:
        self.loop.add_reader(fileobj, data)

    def unregister(self, fileobj: int) -> None:
        self.loop.remove_reader(fileobj)


class ForegroundServer:
    """Blocking: run() returns after a graceful stop, re-executes the process for a reload,
    and raises when serving cannot start."""

    def __init__(
        self, options: RunOptions, listeners: list[Listener], previous: Handover | None
    ) -> None:
        self.options = options
        self.config = options.config
        self.listeners = listeners
        self.previous = previous
        self.log = ServerLog(self.config.verbosity, self.config.debug)
        self.notifier = Notifier.from_environment()
        self.command = spawn.reload_command()
        self.generation = previous.generation if previous is not None else 0
        self.counters = ServiceCounters(previous.started if previous else time.monotonic())
        if previous is not None:
            self.counters.reloads_succeeded = previous.reloads_succeeded
            self.counters.reloads_failed = previous.reloads_failed
            self.counters.retired_statuses = list(previous.retired.get("statuses", []))
            self.counters.retired_buckets = list(previous.retired.get("buckets", []))
            self.counters.retired_duration = float(previous.retired.get("duration_sum", 0.0))
        self.serving_since = time.monotonic()
        # The sources as this image loaded them, to compare once the watch is in place.
        self.loaded_stamps = previous.stamps if previous else _stamps(application_sources())
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: WorkerServer | None = None
        self.watcher: WatcherKeeper | None = None
        self.stop_mode: asyncio.Future[str] | None = None
        self.stop_reason = ""
        self.reload_wanted: asyncio.Event | None = None
        self.reload_reason = ""
        # From a passed check to exec(): a reload asked meanwhile is the new image's to do.
        self.reexecuting = False
        self.reload_after = ""
        self.draining = False
        self.interrupts = 0
        self.lag = 0.0
        self._clock_due = 0.0
        self._clock: asyncio.TimerHandle | None = None
        self._me = psutil.Process()
        self._rss = 0

    # -- any thread ----------------------------------------------------------------------------
    def request_stop(self) -> None:
        """requestShutdown(): a graceful stop, from any thread."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._stop, GRACEFUL, "requestShutdown()")
        except RuntimeError:
            pass  # the loop closed meanwhile

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        import uvloop

        # This process serves as a worker would: large bodies through reused heap memory.
        linux.keep_chunk_buffers_in_heap()
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            self._uninstall_signals(loop)
            loop.close()
            asyncio.set_event_loop(None)

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        self.stop_mode = loop.create_future()
        self.reload_wanted = asyncio.Event()
        self._install_signals(loop)
        handover_module.release_held_signals()
        server = await self._start_serving()
        pid_file = pidfile.write_if_asked(self.listeners)  # the same pid: rewritten as it was
        try:
            self._announce()
            if self.previous is not None and self.previous.reload_after:
                self._reload(self.previous.reload_after)  # asked while the old image exec'd
            self._clock_due = loop.time() + CLOCK_INTERVAL
            self._clock = loop.call_at(self._clock_due, self._tick)
            if self.options.reload_source_changes:
                readers = LoopReaders(loop)
                self.watcher = WatcherKeeper(
                    readers, self.log, self._on_sources_changed, self._on_watching
                )
                self.watcher.start(time.monotonic())
            while True:
                server = await self._serve_until_reload(server)
        except _Stopped:
            pass
        finally:
            if self._clock is not None:
                self._clock.cancel()
            if self.watcher is not None:
                self.watcher.stop()
            pidfile.remove(pid_file)
        self.log.startup("pid %d stopped", os.getpid())

    async def _start_serving(self) -> WorkerServer:
        for listener in self.listeners:
            # Until a reload hands them over, not into the application's subprocesses.
            os.set_inheritable(listener.sock.fileno(), False)
        server = WorkerServer(self.config, self.listeners)
        self.server = server
        try:
            state = await server.start()
        except BaseException:
            server.close()
            raise
        admin.provide(state, self._snapshot)
        self.serving_since = time.monotonic()
        return server

    def _announce(self) -> None:
        previous = self.previous
        pid = os.getpid()
        if previous is None:
            self.log.startup("pid %d serving in the foreground itself (no supervisor)", pid)
            self.notifier.ready("serving (no supervisor)")
            return
        took = time.monotonic() - previous.reload_started
        self.log.startup(
            "reloaded (%s): generation %d serves in pid %d (in %.2fs)",
            previous.reason,
            self.generation,
            pid,
            took,
        )
        self.notifier.ready(f"serving generation {self.generation}")

    async def _serve_until_reload(self, server: WorkerServer) -> WorkerServer:
        """Serve until a stop (raises _Stopped once drained) or a reload whose new code
        passed its check; then drain, and re-execute. Returns the server to go on with when
        the reload is given up after the drain."""
        assert self.stop_mode is not None and self.reload_wanted is not None
        while True:
            await self._first(self.stop_mode, self.reload_wanted.wait())
            if self.stop_mode.done():
                await self._shutdown(server)
                raise _Stopped
            checked = await self._check_latest()
            if checked is None:
                continue  # stopping: the next turn drains
            result, stamps = checked
            if result.ok:
                return await self._reexec(server, result, stamps)

    async def _check_latest(self) -> tuple[CheckResult, dict[str, int]] | None:
        """Check the code on disk; again while a newer reload came during the check. The
        result, with the sources' modification times when the check began; None when a stop
        came first."""
        assert self.stop_mode is not None and self.reload_wanted is not None
        while True:
            reason = self.reload_reason
            self.reload_wanted.clear()
            started = time.monotonic()
            stamps = _stamps(application_sources())
            self.log.startup("reloading (%s): checking the new code", reason)
            self.notifier.reloading(f"reloading ({reason})")
            check = asyncio.ensure_future(
                check_new_code(
                    self.command, self.generation + 1, self.config.server.WORKER_BOOT_TIMEOUT
                )
            )
            await self._first(self.stop_mode, check)
            if self.stop_mode.done():
                check.cancel()
                await asyncio.gather(check, return_exceptions=True)
                return None
            result = check.result()
            if self.reload_wanted.is_set():
                self.log.startup("a newer change came during the check: checking again")
                continue
            if not result.ok:
                self._reload_failed(result)
                return result, stamps
            self.log.lifecycle("the new code passed its check in %.2fs", time.monotonic() - started)
            if self.watcher is not None:
                self.watcher.watch_more(result.sources)
            return result, stamps

    def _reload_failed(self, result: CheckResult) -> None:
        self.counters.reloads_failed += 1
        details = result.details
        self.log.error(
            "reload failed: %s; generation %d keeps serving in pid %d%s",
            result.summary,
            self.generation,
            os.getpid(),
            f"\n{details}" if details and details.strip() not in result.summary else "",
        )
        self.notifier.ready(f"reload failed; serving generation {self.generation}")

    async def _reexec(
        self, server: WorkerServer, result: CheckResult, stamps: dict[str, int]
    ) -> WorkerServer:
        """Finish what is in progress with the listening sockets kept open, then exec().
        `stamps`: the sources' modification times when the check began."""
        assert self.stop_mode is not None
        self.reexecuting = True
        # From here a HUP stays pending in this thread, and exec() passes it to the new image
        # (one caught by another thread before is handled by the loop: reload_after).
        handover_module.hold_signals()
        try:
            return await self._drain_and_exec(server, result, stamps)
        finally:
            self.reexecuting = False
            handover_module.release_held_signals()  # still here: the old code serves on
            if self.reload_after:  # still here: the old code serves on, and the reload is due
                reason, self.reload_after = self.reload_after, ""
                self._reload(reason)

    async def _drain_and_exec(
        self, server: WorkerServer, result: CheckResult, stamps: dict[str, int]
    ) -> WorkerServer:
        assert self.stop_mode is not None
        stamps = {**_stamps(result.sources), **stamps}
        kept = [
            Listener(each.name, each.sock.dup(), dict(each.settings)) for each in self.listeners
        ]
        self.log.lifecycle("draining before re-executing in place (the sockets stay open)")
        await self._drain(server, retiring=True)
        server.close()
        for listener in self.listeners:
            listener.sock.close()  # their duplicates in `kept` go on
        self.listeners = kept
        if self.stop_mode.done():  # asked to stop during the drain: no exec()
            self.log.startup("shutting down (%s) instead of reloading", self.stop_reason)
            self.notifier.stopping(f"shutting down ({self.stop_reason})")
            await self._stopped_after(server)
            raise _Stopped
        if _stamps(list(stamps)) != stamps:
            # Saved again since the check: what exec() would load is not what was checked.
            again = await check_new_code(
                self.command, self.generation + 1, self.config.server.WORKER_BOOT_TIMEOUT
            )
            if not again.ok:
                self._reload_failed(again)
                return await self._start_serving()
        # The handler threads are ending: a signal one of them caught is handled now, on the
        # loop, rather than lost at exec().
        await asyncio.sleep(SIGNAL_SETTLE)
        try:
            self._exec(_stamps(list(stamps)))
        except OSError as exc:
            self.counters.reloads_failed += 1
            self.log.error("reload failed: cannot re-execute (%s); the old code serves on", exc)
            if self.watcher is not None:
                self.watcher.start(time.monotonic())
        return await self._start_serving()

    def _exec(self, stamps: dict[str, int]) -> None:
        state = self.server.state if self.server is not None else None
        statuses = self.counters.retired_statuses
        buckets = self.counters.retired_buckets
        duration = self.counters.retired_duration
        if state is not None and state.stats is not None:
            report = state.heartbeat(0.0, 0)  # this generation's counts join the retired
            statuses = _add(statuses, report.statuses or [])
            buckets = _add(buckets, report.buckets or [])
            duration += report.duration_sum or 0.0
        retired = {"statuses": statuses, "buckets": buckets, "duration_sum": duration}
        handover = Handover(
            tuple((listener.name, listener.sock.fileno()) for listener in self.listeners),
            self.generation + 1,
            self.counters.started,
            self.counters.reloads_succeeded + 1,
            self.counters.reloads_failed,
            retired,
            self.reload_reason,
            time.monotonic(),
            stamps,
            self.reload_after,
        )
        if self.watcher is not None:
            self.watcher.stop()  # its pipes close at exec(); it would be left a zombie
        self.log.lifecycle("pid %d re-executes itself: %s", os.getpid(), " ".join(self.command))
        handover_module.exec_in_place(
            self.command, spawn.LAUNCH_CWD, handover, self.notifier.address
        )

    # -- draining and stopping -------------------------------------------------------------------
    async def _drain(self, server: WorkerServer, retiring: bool) -> None:
        """retiring (a reload): idle keep-alive connections get IDLE_GRACE to send once more."""
        assert self.loop is not None
        self.draining = True
        timeout = self.config.server.GRACEFUL_TIMEOUT
        if self.stop_mode is not None and self.stop_mode.done():
            retiring = False
            if self.stop_mode.result() == IMMEDIATE:
                timeout = 0.0
        hasten: asyncio.TimerHandle | None = None
        if retiring:
            hasten = self.loop.call_later(IDLE_GRACE, server.hasten_drain)
        try:
            await server.drain(timeout, close_idle=not retiring)
        finally:
            if hasten is not None:
                hasten.cancel()
            self.draining = False

    async def _shutdown(self, server: WorkerServer) -> None:
        assert self.stop_mode is not None
        delay = self.config.server.SHUTDOWN_DELAY
        self._unready()
        if self.stop_mode.result() == GRACEFUL and delay > 0:
            self.log.startup(
                "shutting down (%s) in %gs (SHUTDOWN_DELAY): /readyz answers 503 meanwhile",
                self.stop_reason,
                delay,
            )
            self.notifier.stopping(f"shutting down ({self.stop_reason})")
            self.delay_over = self._new_future()
            try:
                await asyncio.wait_for(asyncio.shield(self.delay_over), delay)
            except TimeoutError:
                pass
            self.log.startup("SHUTDOWN_DELAY over: draining (%s)", self.stop_reason)
        else:
            self.log.startup("shutting down (%s)", self.stop_reason)
            self.notifier.stopping(f"shutting down ({self.stop_reason})")
        await self._drain(server, retiring=False)
        await self._stopped_after(server)

    async def _stopped_after(self, server: WorkerServer) -> None:
        server.close()
        for listener in self.listeners:
            listener.sock.close()

    def _new_future(self) -> asyncio.Future[None]:
        assert self.loop is not None
        return self.loop.create_future()

    delay_over: asyncio.Future[None] | None = None

    def _unready(self) -> None:
        state = self.server.state if self.server is not None else None
        admin.on_control_message(state, Unready())

    def _stop(self, mode: str, reason: str) -> None:
        future = self.stop_mode
        if future is None:
            return
        if not future.done():
            self.stop_reason = reason
            future.set_result(mode)
            return
        # Asked again: end the SHUTDOWN_DELAY now, or hurry the drain.
        if self.delay_over is not None and not self.delay_over.done():
            self.delay_over.set_result(None)
        if self.draining and self.server is not None:
            self.server.hasten_drain(0.0 if mode == IMMEDIATE else None)

    # -- signals and events ----------------------------------------------------------------------
    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGHUP, self._reload, "SIGHUP")
        loop.add_signal_handler(signal.SIGTERM, self._stop, GRACEFUL, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self._on_interrupt)
        loop.add_signal_handler(signal.SIGQUIT, self._stop, IMMEDIATE, "SIGQUIT")
        loop.add_signal_handler(signal.SIGUSR1, self._reopen_log_files)
        for signum in (signal.SIGTTIN, signal.SIGTTOU):
            loop.add_signal_handler(signum, self._no_workers, signal.Signals(signum).name)

    @staticmethod
    def _uninstall_signals(loop: asyncio.AbstractEventLoop) -> None:
        for signum in (
            signal.SIGHUP,
            signal.SIGTERM,
            signal.SIGINT,
            signal.SIGQUIT,
            signal.SIGUSR1,
            signal.SIGTTIN,
            signal.SIGTTOU,
        ):
            loop.remove_signal_handler(signum)

    def _on_interrupt(self) -> None:
        self.interrupts += 1
        self._stop(IMMEDIATE if self.interrupts > 1 else GRACEFUL, "SIGINT")

    def _reload(self, reason: str) -> None:
        if self.reload_wanted is None or (self.stop_mode is not None and self.stop_mode.done()):
            return
        if self.reexecuting:
            self.log.lifecycle("%s while re-executing: the new code reloads once it serves", reason)
            self.reload_after = reason
            return
        self.reload_reason = reason
        self.reload_wanted.set()

    def _on_sources_changed(self, description: str) -> None:
        self._reload(description)

    def _on_watching(self) -> None:
        """A save between this image's start and its watch being in place was not reported:
        found here by comparing modification times."""
        loaded = self.loaded_stamps
        now = _stamps(list(loaded))
        changed = [path for path, stamp in now.items() if stamp != loaded[path]]
        self.loaded_stamps = now
        if changed:
            self._reload(f"{os.path.basename(changed[0])} changed")

    def _no_workers(self, name: str) -> None:
        self.log.warning("%s ignored: this process serves alone (no supervisor, no workers)", name)

    def _reopen_log_files(self) -> None:
        reopen_log_files()
        self.log.lifecycle("pid %d reopened its log files", os.getpid())

    @staticmethod
    async def _first(*waitables: Any) -> None:
        """Until one of the futures or coroutines is done; the coroutines left are cancelled."""
        tasks = [asyncio.ensure_future(each) for each in waitables]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task, waitable in zip(tasks, waitables, strict=True):
                if task is not waitable and not task.done():
                    task.cancel()

    # -- the clock and /metrics ------------------------------------------------------------------
    def _tick(self) -> None:
        loop = self.loop
        assert loop is not None
        now = loop.time()
        self.lag = max(0.0, now - self._clock_due)
        self._clock_due = now + CLOCK_INTERVAL
        self._clock = loop.call_at(self._clock_due, self._tick)
        if self.watcher is not None:
            self.watcher.check(time.monotonic())

    def _snapshot(self) -> MetricsSnapshot:
        """The service as /metrics and `hwebserver status` show it: this process is both the
        supervisor and its one worker."""
        now = time.monotonic()
        stopping = self.stop_mode is not None and self.stop_mode.done()
        snapshot = self.counters.snapshot([], self.generation, stopping, now)
        state = self.server.state if self.server is not None else None
        if state is not None:
            worker = admin.local_snapshot(
                state, self.generation, round(self.lag, 4), self._rss_now()
            )
            worker_entry = dataclasses.replace(
                worker.workers[0],
                uptime=round(now - self.serving_since, 3),
                phase="stopping" if stopping else "ready",
            )
            snapshot = dataclasses.replace(snapshot, workers=[worker_entry])
        return snapshot

    def _rss_now(self) -> int:
        try:
            self._rss = self._me.memory_info().rss
        except (psutil.Error, OSError):
            pass
        return self._rss


class _Stopped(Exception):
    """The service stopped (drained); run() returns."""


def _stamps(paths: list[str]) -> dict[str, int]:
    """Modification times of the files, in ns (0 for a file gone)."""
    found: dict[str, int] = {}
    for path in paths:
        try:
            found[path] = os.stat(path).st_mtime_ns
        except OSError:
            found[path] = 0
    return found


def _add(total: list[Any], counts: list[Any]) -> list[int]:
    total = list(total) + [0] * max(0, len(counts) - len(total))
    for index, count in enumerate(counts):
        total[index] = int(total[index]) + int(count)
    return total

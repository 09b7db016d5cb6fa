"""The supervisor: one thread, one loop. It owns the listening sockets and keeps workers
serving through reloads, crashes, recycling and shutdown.

Every turn: wait on the signal pipe, the workers' control pipes and the file watcher (never
longer than the next deadline); read what arrived, reap children that exited, enforce
deadlines, then reconcile what runs with what should run. Signal handlers only record.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import time
from collections.abc import Callable
from functools import partial

from ..api.errors import OperationFailed
from ..api.internal import tempdir
from ..api.internal.tracebacks import exception_summary, format_user_exception
from ..worker.common import control
from ..worker.common.config import Listener
from ..worker.common.logs import ServerLog
from ..worker.common.messages import (
    BootFailed,
    ControlMessage,
    Drain,
    Heartbeat,
    Metrics,
    MetricsQuery,
    Ready,
    Shutdown,
    Stop,
    Unready,
)
from ..worker.process import main
from ..worker.process.shares import AcceptShares
from . import pidfile, spawn, start_method, tree
from .handles import Generation, Phase, Slot, WorkerHandle, request_limit
from .listeners import close_all
from .metrics import ServiceCounters
from .options import RunOptions
from .processes import OsProcesses, Processes
from .recycling import due_for_recycling
from .signals import SignalInbox
from .systemd import Notifier
from .watcher import WatcherKeeper

MAX_WAIT = 1.0
KILL_MARGIN = 5.0  # past GRACEFUL_TIMEOUT, a draining worker's process tree is killed
STOP_GRACE = 2.0  # after STOP
DUMP_GRACE = 1.0  # between the stack dump of a silent worker and killing it
BOOT_FAILED_GRACE = 5.0  # a worker that reported BOOT_FAILED has this long to exit
# The first workers killed from outside while they boot (the OOM killer, kill -9) are started
# again, with the crash backoff, this many times in a row per slot before run() gives up.
FIRST_START_RETRIES = 5
# A turn of the loop that took this much longer than the wait it asked for means the
# supervisor itself was not running (SIGSTOP, a frozen cgroup, a live migration): at least
# STALL_MIN seconds, and a quarter of WORKER_TIMEOUT, so a busy machine's slow turn is not one.
STALL_MIN = 1.0


class Supervisor:
    """Blocking: serve() returns after a clean shutdown, or raises OperationFailed when the
    first workers cannot start at all.

    Its decisions (start(), advance(), on_message()) take the time as an argument and act on
    processes through `processes` only, so a test drives them with a fake clock and fake
    processes (tests/supervisor/test_supervisor_decisions.py)."""

    def __init__(
        self,
        options: RunOptions,
        listeners: list[Listener],
        processes: Processes | None = None,
    ) -> None:
        config = options.config
        self.processes: Processes = processes or OsProcesses()
        self.config = config
        self.listeners = listeners
        # How many connections each worker holds, which they read before they accept
        # (worker/process/shares.py, accepting.py), so that they share the load evenly.
        self.shares = AcceptShares.create()
        self.log = ServerLog(config.verbosity, config.debug)
        self.inbox = SignalInbox()
        self.selector = selectors.DefaultSelector()
        self.notifier = Notifier.from_environment()
        self.command = spawn.reload_command()
        self.start_method = start_method.resolve(options.start_method, self.log)
        self.target = options.workers
        self.watch_sources = options.reload_source_changes
        self.graceful = config.server.GRACEFUL_TIMEOUT
        self.worker_timeout = config.server.WORKER_TIMEOUT
        self.boot_timeout = config.server.WORKER_BOOT_TIMEOUT
        self.max_requests = config.server.MAX_REQUESTS
        self.max_requests_jitter = config.server.MAX_REQUESTS_JITTER
        self.max_memory = config.server.MAX_WORKER_MEMORY
        self.next_generation = 0
        self.active: Generation | None = None
        self.pending: Generation | None = None
        self.workers: dict[int, WorkerHandle] = {}
        self.received: list[int] = []
        self.stop_requested = False
        self.stopping: str | None = None  # "graceful" or "immediate"
        self.fatal: str | None = None
        self.announced_ready = False
        self.has_served = False  # a worker said READY: from then on, no live worker is an outage
        self.outage_since: float | None = None
        self.last_heard = 0.0  # the last heartbeat of a worker that was accepting
        self.watcher = WatcherKeeper(self.selector, self.log, self._on_sources_changed)
        self.counters = ServiceCounters(time.monotonic())  # for /metrics (metrics.py)
        self.shutdown_delay = config.server.SHUTDOWN_DELAY
        # A graceful shutdown waiting out SHUTDOWN_DELAY: (why, when draining starts).
        self.delayed_shutdown: tuple[str, float] | None = None

    # -- any thread ------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """requestShutdown() in the supervisor main."""
        self.stop_requested = True
        self.inbox.wake()

    # -- the loop ----------------------------------------------------------------------------------
    def serve(self) -> None:
        self.inbox.install()
        self.selector.register(self.inbox.fileno(), selectors.EVENT_READ, self._on_signals)
        pid_file = pidfile.write_if_asked(self.listeners)  # --pid-file
        try:
            swept = tempdir.sweep_dirs_of_dead_processes()
            if swept:
                self.log.lifecycle("removed %d request temp dir(s) of dead processes", swept)
            self.start(time.monotonic())
            while self.running:
                self._turn()
        finally:
            self._cleanup()
            pidfile.remove(pid_file)
        if self.fatal is not None:
            raise OperationFailed(self.fatal)
        self.log.lifecycle("supervisor %d stopped", os.getpid())

    def start(self, now: float) -> None:
        """The first generation's workers (forked), and the source watcher if asked."""
        self.log.lifecycle("supervisor %d starts %d worker(s)", os.getpid(), self.target)
        forked = self.start_method == start_method.FORK
        self.active = self._new_generation(forked=forked, now=now)
        self._fill(self.active, now)
        if self.watch_sources:
            self.watcher.start(now)

    @property
    def running(self) -> bool:
        """Not stopping, or some worker still to see out."""
        return self.stopping is None or bool(self.workers)

    def _turn(self) -> None:
        before = time.monotonic()
        wait = self._wait_time(before)
        self._dispatch(self.selector.select(wait))
        now = time.monotonic()
        stalled = now - before - wait
        if stalled > max(STALL_MIN, self.worker_timeout / 4):
            # A select() interrupted by the stop returns nothing: what arrived meanwhile first.
            self._dispatch(self.selector.select(0))
            now = time.monotonic()
            self.resume_after_stall(now, stalled)
        self.advance(now)

    def advance(self, now: float) -> None:
        """What a turn decides once it has read what arrived: signals, exits, deadlines, then
        what should run."""
        if self.delayed_shutdown is not None and now >= self.delayed_shutdown[1]:
            self._shutdown(self.delayed_shutdown[0], immediate=False, now=now)
        self._handle_signals(now)
        self._reap_exited(now)
        self._enforce_deadlines(now)
        self._reconcile(now)
        self._watch_live_workers(now)

    @staticmethod
    def _dispatch(events: list[tuple[selectors.SelectorKey, int]]) -> None:
        for key, _events in events:
            callback: Callable[[], None] = key.data
            callback()

    def resume_after_stall(self, now: float, stalled: float) -> None:
        """The supervisor was not running for `stalled` seconds; its workers may have been
        (only the supervisor was stopped) or not (the whole tree was frozen). The messages
        that arrived meanwhile are read first (by the turn); then each worker's deadlines
        count from now, so none is judged on the time the supervisor could not listen. A
        worker that stays silent is still caught, one WORKER_TIMEOUT later."""
        for worker in self.workers.values():
            worker.resume(now, stalled)
        self.log.warning(
            "supervisor loop stalled for %.1fs (stopped or frozen): worker deadlines restart "
            "from now",
            stalled,
        )

    def _wait_time(self, now: float) -> float:
        soonest = now + MAX_WAIT
        for worker in self.workers.values():
            if worker.killed:
                continue  # only its SIGCHLD is awaited
            if worker.deadline is not None:
                soonest = min(soonest, worker.deadline)
            elif worker.phase is Phase.BOOTING:
                soonest = min(soonest, worker.boot_clock + self.boot_timeout)
            else:
                soonest = min(soonest, worker.last_beat + self.worker_timeout)
        if self.delayed_shutdown is not None:
            soonest = min(soonest, self.delayed_shutdown[1])
        if self.active is not None:
            next_start = self.active.next_start()
            if next_start > now:  # a due slot is filled in this turn, or not at all (stopping)
                soonest = min(soonest, next_start)
        return max(0.0, soonest - now)

    # -- signals ---------------------------------------------------------------------------------
    def _on_signals(self) -> None:
        self.received.extend(self.inbox.read())

    def _handle_signals(self, now: float) -> None:
        received, self.received = self.received, []
        if self.stop_requested:
            self.stop_requested = False
            self._graceful_shutdown("requestShutdown()", now)
        for signum in received:
            if signum == signal.SIGHUP:
                self._reload("SIGHUP", now)
            elif signum == signal.SIGTERM:
                self._graceful_shutdown("SIGTERM", now)
            elif signum == signal.SIGINT:
                if self.stopping is None and self.delayed_shutdown is None:
                    self._graceful_shutdown("SIGINT", now)
                else:
                    self._shutdown("SIGINT", immediate=True, now=now)
            elif signum == signal.SIGQUIT:
                self._shutdown("SIGQUIT", immediate=True, now=now)
            elif signum == signal.SIGTTIN:
                self.target += 1
                self.log.lifecycle("SIGTTIN: %d worker(s) wanted", self.target)
            elif signum == signal.SIGTTOU:
                self.target = max(1, self.target - 1)
                self.log.lifecycle("SIGTTOU: %d worker(s) wanted", self.target)
            elif signum == signal.SIGUSR1:
                self._reopen_logs()

    def _reopen_logs(self) -> None:
        """The log files (LOG_FILE) are the workers'; each reopens its own."""
        for worker in self.workers.values():
            if worker.signal_ready:
                self._send_reopen(worker)
            elif worker.phase is Phase.BOOTING and not worker.killed:
                # It may have opened the files before they were rotated: tell it once READY
                # (until then SIGUSR1 would kill it).
                worker.reopen_pending = True
        self.log.lifecycle("SIGUSR1: workers told to reopen their log files")

    def _send_reopen(self, worker: WorkerHandle) -> None:
        worker.reopen_pending = False
        self.processes.signal(worker.pid, signal.SIGUSR1)

    # -- workers: starting, messages, exits -----------------------------------------------------
    def _new_generation(self, forked: bool, now: float) -> Generation:
        generation = Generation(self.next_generation, forked, self.target, now)
        self.next_generation += 1
        return generation

    def _fill(self, generation: Generation, now: float) -> None:
        """A worker in each empty slot whose time has come."""
        for slot in generation.due_slots(now):
            if not self._start_worker(generation, slot, now):
                return

    def _start_worker(self, generation: Generation, slot: Slot, now: float) -> bool:
        limit = request_limit(self.max_requests, self.max_requests_jitter)
        try:
            if generation.forked:
                started = self.processes.fork(
                    partial(self._forked_worker_main, generation.number, limit),
                    self._private_fds(),
                )
            else:
                started = self.processes.spawn(
                    self.command, self.listeners, generation.number, limit, self.shares.fd
                )
        except Exception as exc:
            self.log.error(
                "cannot start a worker of generation %d", generation.number, exc_info=exc
            )
            self._cannot_start(generation, slot, f"cannot start a worker: {exc}", now)
            return False
        worker = WorkerHandle(started.pid, generation, started.sock, now, limit)
        worker.process = started.process
        slot.take(worker, now)
        generation.workers.append(worker)
        self.workers[worker.pid] = worker
        self.selector.register(worker.sock, selectors.EVENT_READ, partial(self._on_control, worker))
        how = "forked" if generation.forked else "spawned"
        self.log.lifecycle("%s %s", how, worker)
        return True

    def _forked_worker_main(self, generation: int, limit: int | None, sock: socket.socket) -> int:
        """In the forked child."""
        return main.run_worker(self.config, self.listeners, sock, generation, limit, self.shares)

    def _private_fds(self) -> list[int]:
        """What a forked worker must not keep: above all the other workers' pipe ends, or a
        dead supervisor would go unnoticed by them."""
        fds = [*self.inbox.private_fds(), self.selector.fileno()]
        fds.extend(worker.sock.fileno() for worker in self.workers.values())
        fds.extend(self.watcher.private_fds())
        return [fd for fd in fds if fd >= 0]

    def _on_control(self, worker: WorkerHandle) -> None:
        messages = worker.receive()
        now = time.monotonic()
        if messages is None:
            self._unregister(worker)  # it is exiting; _reap() takes it from here
            return
        for message in messages:
            self.on_message(worker, message, now)

    def on_message(self, worker: WorkerHandle, message: ControlMessage, now: float) -> None:
        if isinstance(message, Heartbeat):
            worker.beat(message, now)
        elif isinstance(message, MetricsQuery):
            snapshot = self.counters.snapshot(
                list(self.workers.values()),
                self.active.number if self.active is not None else None,
                self.stopping is not None or self.delayed_shutdown is not None,
                now,
            )
            worker.send(Metrics(message.id, snapshot))
        elif isinstance(message, Ready):
            self._ready(worker, message, now)
        elif isinstance(message, Shutdown):  # its signal: a SIGTERM or SIGINT sent to the worker
            why = (
                f"{message.signal} to {worker}"
                if message.signal
                else f"requestShutdown() in {worker}"
            )
            self._graceful_shutdown(why, now)
        elif isinstance(message, BootFailed):
            self._boot_failed(worker, message, now)

    def _ready(self, worker: WorkerHandle, message: Ready, now: float) -> None:
        if worker.phase is not Phase.BOOTING or worker.killed:
            return
        worker.phase = Phase.READY
        worker.ready_at = worker.last_beat = now
        worker.generation.ever_ready = True
        worker.stop_hooks = message.stop_hooks
        self.log.lifecycle("%s ready in %.2fs", worker, now - worker.started)
        if worker.reopen_pending:
            self._send_reopen(worker)
        if self.delayed_shutdown is not None:
            worker.send(Unready())
        self.watcher.watch_more(message.sources)

    def _boot_failed(self, worker: WorkerHandle, message: BootFailed, now: float) -> None:
        """The worker's own report of why it cannot serve (an exception at import, an exit
        before run()), logged once: by the reload it fails, or by the first start."""
        error = message.error.rstrip()
        summary = message.summary.strip() or "see the traceback"
        worker.failure = f"failed to start: {summary}"
        worker.deadline = now + BOOT_FAILED_GRACE
        generation = worker.generation
        if generation is self.pending:
            self._abort_pending(f"{worker} {worker.failure}", now, details=error)
        elif generation is self.active and self.stopping is None:
            self.log.error("%s failed to start:\n%s", worker, error)
        else:  # its generation was given up already, by another worker's failure (logged)
            self.log.lifecycle("%s %s", worker, worker.failure)

    def _reap_exited(self, now: float) -> None:
        for pid, worker in list(self.workers.items()):
            code = self.processes.exit_status(pid)
            if code is None:
                continue
            self.processes.kill_group(pid)  # what it started dies with it (a zombie: no pid reuse)
            self._reap(worker, code)
            self._on_exit(worker, code, now)
        self.watcher.check(now)

    def _reap(self, worker: WorkerHandle, code: int) -> None:
        # Before reaping: until then the dead worker's pid cannot belong to anyone else.
        swept = self.processes.sweep_temp_dirs(worker.pid)
        if swept:
            self.log.warning("%s left %d request temp dir(s): removed", worker, swept)
        self.processes.reap(worker.pid)
        self.shares.release(worker.pid)  # at once: the others need not wait for it
        if worker.process is not None:
            worker.process.returncode = code  # reaped here, not by subprocess
        self._forget(worker)

    def _on_exit(self, worker: WorkerHandle, code: int, now: float) -> None:
        self.counters.worker_exited(worker, code)
        generation = worker.generation
        ended_by_us = worker.killed and code == -signal.SIGKILL
        if ended_by_us:
            # Not a cause: the worker had failed or overstayed (logged when it was decided).
            how = "ended by the supervisor" + (
                f": {worker.kill_reason}" if worker.kill_reason else ""
            )
        else:
            how = tree.describe_exit(code)
        ended = how if ended_by_us else f"exited ({how})"
        asked = worker.phase in (Phase.RETIRING, Phase.STOPPING)
        if worker.failure is None and asked:
            self.log.lifecycle("%s %s", worker, ended)
            return
        what = f"{worker} {worker.failure or 'exited unexpectedly'} ({how})"
        if generation is self.pending:
            self._abort_pending(what, now)
        elif generation is not self.active or self.stopping is not None:
            if worker.killed:  # given up on: its failure is in the log already, once
                self.log.lifecycle("%s %s", worker, ended)
            else:
                self.log.warning("%s", what)
        elif generation.starting_service and self._own_start_failure(worker, code):
            self._start_failed(what, now)
        else:
            self._replace(worker, what, code, now)

    @staticmethod
    def _own_start_failure(worker: WorkerHandle, code: int) -> bool:
        """The application failed to start (its exception, exit or crash, or no READY in
        time), as opposed to a kill from outside (the OOM killer, an operator's kill -9),
        which says nothing of its code."""
        return worker.failure is not None or not tree.killed_from_outside(code)

    def _replace(self, worker: WorkerHandle, what: str, code: int, now: float) -> None:
        """A serving generation's worker died unasked: its slot gets a new one, at once if it
        had said READY or was killed from outside while it booted (a kill says nothing of the
        application's code; the slot's starts are only spaced, KILLED_BOOT_FLOOR), after the
        slot's crash backoff if it failed before READY on its own. The wait logged is the
        wait."""
        generation = worker.generation
        slot = generation.slot_of(worker)
        if slot is None:  # it was being recycled: its replacement is already there
            self.log.warning("%s", what)
            return
        booted = worker.ready_at is not None
        if not booted and not generation.starting_service:
            if not self._own_start_failure(worker, code):
                delay = slot.vacate_killed(now)
                self.log.warning(
                    "%s while booting: killed from outside, not a failure of the application; "
                    "replacing it %s, without the crash backoff",
                    what,
                    f"in {delay:.1f}s" if delay >= 0.05 else "at once",
                )
                return
        delay = slot.vacate(booted=booted, now=now)
        when = f" in {delay:.1f}s" if delay >= 0.05 else ""  # else: at once, or nearly
        if not generation.starting_service:
            self.log.warning("%s; replacing it%s", what, when)
        elif slot.early_deaths > FIRST_START_RETRIES:
            self._start_failed(
                f"{what}, killed before READY {slot.early_deaths} times in a row", now
            )
        else:
            self.log.warning(
                "%s while booting: killed from outside, not a failure of the application; "
                "starting another%s (retry %d of %d)",
                what,
                when,
                slot.early_deaths,
                FIRST_START_RETRIES,
            )

    def _cannot_start(self, generation: Generation, slot: Slot, reason: str, now: float) -> None:
        """fork() or exec() failed."""
        if generation is self.pending:
            self._abort_pending(reason, now)
        elif generation.starting_service:
            self._start_failed(reason, now)
        else:
            delay = slot.vacate(booted=False, now=now)
            self.log.warning("generation %d: trying again in %.1fs", generation.number, delay)

    def _start_failed(self, reason: str, now: float) -> None:
        """run() raises OperationFailed with this reason, once the workers are stopped."""
        self.fatal = f"the workers failed to start: {reason}"
        self._shutdown("the workers failed to start", immediate=True, now=now)

    def _forget(self, worker: WorkerHandle) -> None:
        self._unregister(worker)
        worker.sock.close()
        self.workers.pop(worker.pid, None)
        if worker in worker.generation.workers:
            worker.generation.workers.remove(worker)

    def _unregister(self, worker: WorkerHandle) -> None:
        try:
            self.selector.unregister(worker.sock)
        except (KeyError, ValueError):
            pass

    def _kill(self, worker: WorkerHandle, reason: str = "") -> None:
        """SIGKILL to its process tree. `reason`, if its failure does not say it already, is
        logged with its exit."""
        if not worker.killed:
            worker.killed = True
            worker.kill_reason = reason
            self.processes.kill_tree(worker.pid)

    # -- deadlines ---------------------------------------------------------------------------------
    def _enforce_deadlines(self, now: float) -> None:
        for worker in list(self.workers.values()):
            if worker.killed:
                continue
            if worker.deadline is not None and now >= worker.deadline:
                if worker.failure is None:
                    self.log.warning("%s did not finish in time: killing it", worker)
                    self._kill(worker, "it did not finish in time")
                else:
                    self._kill(worker)
            elif worker.failure is not None:
                continue
            elif worker.phase is Phase.BOOTING and now - worker.boot_clock > self.boot_timeout:
                worker.failure = f"sent no READY within {self.boot_timeout:g}s"
                self.log.error("%s %s: killing it", worker, worker.failure)
                self._kill(worker)
                if worker.generation is self.pending:
                    self._abort_pending(f"{worker} {worker.failure}", now)
            elif worker.phase is not Phase.BOOTING and now - worker.last_beat > self.worker_timeout:
                self._silent(worker, now)

    def _silent(self, worker: WorkerHandle, now: float) -> None:
        """A worker whose event loop stopped turning: its threads' stacks go to the log
        (faulthandler, to stderr), then its process tree is killed and it is replaced."""
        worker.failure = f"sent no heartbeat for {now - worker.last_beat:.1f}s"
        self.log.error(
            "%s %s: dumping every thread's stack below, then replacing it", worker, worker.failure
        )
        self.processes.signal(worker.pid, main.STACK_DUMP_SIGNAL)
        worker.deadline = now + DUMP_GRACE
        if worker.generation is self.pending:
            self._abort_pending(f"{worker} {worker.failure}", now)

    # -- what should run ---------------------------------------------------------------------------
    def _reconcile(self, now: float) -> None:
        if self.stopping is not None or self.active is None:
            return
        pending = self.pending
        if pending is not None and len(pending.ready()) >= pending.size:
            self._promote(now)
        generation = self.active
        self._mark_for_recycling(generation, now)
        for worker in generation.resize(self.target):  # fewer wanted (SIGTTOU)
            self._retire(worker, now)
        self._fill(generation, now)
        if len(generation.ready()) >= self.target:
            for worker in generation.workers:
                if worker.recycle_reason is not None and worker.phase is Phase.READY:
                    self._retire(worker, now)
            if not self.announced_ready:
                self.announced_ready = True
                self.notifier.ready(f"serving with {self.target} worker(s)")
                # At every verbosity: the pids an operator signals (HUP, TERM) or looks for.
                self.log.startup(
                    "supervisor %d serving with %d worker(s): %s",
                    os.getpid(),
                    self.target,
                    ", ".join(str(w.pid) for w in generation.ready()),
                )

    def _mark_for_recycling(self, generation: Generation, now: float) -> None:
        """The replacement starts now (the worker leaves its slot); the old worker drains
        once the generation is back at full strength."""
        if self.pending is not None or (self.max_requests <= 0 and self.max_memory <= 0):
            return
        due = due_for_recycling(generation, self.target, self.max_memory)
        if due is not None:
            worker, reason = due
            worker.recycle_reason = reason
            self.counters.recycles += 1
            slot = generation.slot_of(worker)
            if slot is not None:
                slot.vacate(booted=True, now=now)
            self.log.lifecycle("recycling %s: %s; its replacement starts first", worker, reason)

    def _retire(self, worker: WorkerHandle, now: float) -> None:
        """Drain it while others serve the same sockets."""
        if worker.phase is Phase.BOOTING:
            worker.phase = Phase.STOPPING
            self._kill(worker, "no longer wanted while it was booting")
        elif worker.phase is Phase.READY:
            worker.phase = Phase.RETIRING
            worker.send(Drain(control.RETIRE))
            worker.deadline = now + self._drain_allowance(worker)
            self.log.lifecycle("%s drains", worker)

    def _drain_allowance(self, worker: WorkerHandle) -> float:
        """How long a draining worker may take before its process tree is killed: its
        requests, then its stop hooks (each part at most GRACEFUL_TIMEOUT), and a margin."""
        hooks = self.graceful if worker.stop_hooks else 0.0
        return self.graceful + hooks + KILL_MARGIN

    # -- no live worker --------------------------------------------------------------------------
    def _watch_live_workers(self, now: float) -> None:
        """The port stays open while no worker accepts: connections wait in its backlog, and
        their clients hang. The start and the end of such a period are errors in the log."""
        if self.stopping is not None:
            return
        accepting = [worker.last_beat for worker in self.workers.values() if worker.accepting]
        if accepting:
            if self.outage_since is not None:
                self.log.error(
                    "a worker serves again, after %.2fs with no live worker",
                    now - self.outage_since,
                )
                self.outage_since = None
            self.has_served = True
            # The outage, if one follows, began when the last of them was last heard from:
            # a worker found silent had stopped serving WORKER_TIMEOUT before it was found.
            self.last_heard = max(accepting)
        elif self.has_served and self.outage_since is None:
            self.outage_since = min(now, self.last_heard)
            self.log.error(
                "no live worker: new connections wait in the listen backlog until a "
                "replacement is ready"
            )

    # -- reload ------------------------------------------------------------------------------------
    def _reload(self, reason: str, now: float) -> None:
        if self.stopping is not None or self.delayed_shutdown is not None:
            return
        if self.pending is not None:
            self._abort_pending(f"superseded by a newer reload ({reason})", now, failed=False)
        generation = self._new_generation(forked=False, now=now)
        self.pending = generation
        self.notifier.reloading(f"reloading ({reason})")
        self.log.startup(  # a reload and its outcome show at every verbosity
            "reloading (%s): generation %d starts %d worker(s)",
            reason,
            generation.number,
            generation.size,
        )
        broken = spawn.script_syntax_error(self.command)
        if broken is not None:  # as the command line's import reports it, in the same words
            script = os.path.basename(str(broken.filename))
            what = f"{script} failed to start: {exception_summary(broken)}"
            self._abort_pending(what, now, details=format_user_exception(broken).rstrip())
            return
        self._fill(generation, now)

    def _promote(self, now: float) -> None:
        old, new = self.active, self.pending
        assert old is not None and new is not None
        self.active, self.pending = new, None
        self.counters.reloads_succeeded += 1
        for worker in list(old.workers):
            self._retire(worker, now)
        self.log.startup(
            "reloaded: generation %d serves (workers %s, in %.2fs); generation %d drains",
            new.number,
            ", ".join(str(w.pid) for w in new.ready()),
            now - new.started,
            old.number,
        )
        self.notifier.ready(f"serving generation {new.number}")

    def _abort_pending(
        self, reason: str, now: float, failed: bool = True, details: str = ""
    ) -> None:
        """Give up the reload in progress. `details` (a traceback) follows the reason, so a
        broken edit is one entry of the log, tied to the reload it failed."""
        generation = self.pending
        if generation is None:
            return
        self.pending = None
        outcome = "its reload failed" if failed else f"its reload was abandoned ({reason})"
        for worker in list(generation.workers):
            worker.phase = Phase.STOPPING
            self._kill(worker, outcome)
        active = self.active.number if self.active is not None else -1
        if failed:
            self.counters.reloads_failed += 1
            self.log.error(
                "reload failed (generation %d): %s; generation %d keeps serving%s",
                generation.number,
                reason,
                active,
                f"\n{details}" if details and details.strip() not in reason else "",
            )
            self.notifier.ready(f"reload failed; serving generation {active}")
        else:  # a reload's outcome shows at every verbosity, as its start does
            self.log.startup("generation %d abandoned: %s", generation.number, reason)

    def _on_sources_changed(self, description: str) -> None:
        self._reload(description, time.monotonic())

    # -- shutdown ----------------------------------------------------------------------------------
    def _graceful_shutdown(self, reason: str, now: float) -> None:
        """With SHUTDOWN_DELAY, /readyz answers 503 for that long while everything else is
        served as before, so a load balancer takes the service out before it drains. A second
        request to stop during the delay drains at once."""
        if self.shutdown_delay <= 0 or self.stopping is not None or self.delayed_shutdown:
            self._shutdown(reason, immediate=False, now=now)
            return
        self.delayed_shutdown = (reason, now + self.shutdown_delay)
        self.log.startup(
            "shutting down (%s) in %gs (SHUTDOWN_DELAY): /readyz answers 503 meanwhile",
            reason,
            self.shutdown_delay,
        )
        self.notifier.stopping(f"shutting down ({reason})")
        self._announce_unready()

    def _announce_unready(self) -> None:
        for worker in self.workers.values():
            if worker.phase is Phase.READY and not worker.killed:
                worker.send(Unready())

    def _shutdown(self, reason: str, immediate: bool, now: float) -> None:
        if self.stopping is None:
            if self.delayed_shutdown is None:
                self.log.startup(
                    "shutting down (%s)%s", reason, "" if immediate else self._drain_note()
                )
                self.notifier.stopping(f"shutting down ({reason})")
                self._announce_unready()
            else:
                self.log.startup("SHUTDOWN_DELAY over: draining (%s)", reason)
            self.delayed_shutdown = None
            # The workers keep their own copies until they stop accepting.
            close_all(self.listeners)
            self.watcher.stop()
            self._abort_pending("shutting down", now, failed=False)
        if self.stopping == "immediate" or (self.stopping == "graceful" and not immediate):
            return
        self.stopping = "immediate" if immediate else "graceful"
        for worker in list(self.workers.values()):
            if worker.killed:
                continue
            if worker.phase is Phase.BOOTING:
                worker.phase = Phase.STOPPING
                self._kill(worker, f"shutting down ({reason}) while it was booting")
            elif immediate:
                worker.phase = Phase.STOPPING
                worker.send(Stop())
                worker.deadline = min(worker.deadline or now + STOP_GRACE, now + STOP_GRACE)
            else:
                worker.phase = Phase.STOPPING
                worker.send(Drain(control.SHUTDOWN_MODE))
                deadline = now + self._drain_allowance(worker)
                worker.deadline = min(worker.deadline or deadline, deadline)

    def _drain_note(self) -> str:
        """What a graceful stop does, and how not to wait for it (a newcomer's first Ctrl-C)."""
        return (
            f": finishing what is in progress, at most {self.graceful:g}s (GRACEFUL_TIMEOUT); "
            "a second Ctrl-C (SIGINT) stops at once"
        )

    def _cleanup(self) -> None:
        for worker in list(self.workers.values()):
            self._kill(worker, "the supervisor stops")
            self._reap(worker, self.processes.wait_exit(worker.pid))
        self.watcher.stop()
        close_all(self.listeners)
        self.shares.close()
        self.inbox.restore()
        self.inbox.close()
        self.selector.close()

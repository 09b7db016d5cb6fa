"""The supervisor's decisions as logic: fake processes, a fake clock, no fork, no signal.

The Supervisor acts on processes only through its `processes` seam (supervisor/processes.py);
here that is FakeProcesses, whose workers live in a table and end when the test (or a kill)
says so. The loop's decisions are driven with explicit times through its public steps:
start(now), on_message(worker, message, now), advance(now). What a worker is told comes out
of the real control pipe (a socketpair), decoded as a worker would.
"""

from __future__ import annotations

import logging
import random
import signal
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pytest

from hwebserver.api.settings import ServerSettings
from hwebserver.supervisor.handles import (
    BACKOFF_MAX,
    KILLED_BOOT_FLOOR,
    MEMORY_SAMPLES,
    RESPAWN_FLOOR,
    Phase,
    WorkerHandle,
    crash_backoff,
    request_limit,
)
from hwebserver.supervisor.main_loop import (
    DUMP_GRACE,
    FIRST_START_RETRIES,
    KILL_MARGIN,
    Supervisor,
)
from hwebserver.supervisor.options import RunOptions
from hwebserver.supervisor.spawn import Started
from hwebserver.worker.common import control
from hwebserver.worker.common.config import Listener, WorkerConfig
from hwebserver.worker.common.control import FrameDecoder
from hwebserver.worker.common.messages import (
    BootFailed,
    ControlMessage,
    Drain,
    Heartbeat,
    Ready,
    Unready,
    decode,
)
from hwebserver.worker.process.main import STACK_DUMP_SIGNAL

KILLED = -signal.SIGKILL
MIB = 1024 * 1024


@dataclass
class FakeWorker:
    pid: int
    forked: bool
    generation: int
    peer: socket.socket  # the worker's end of the control pipe
    code: int | None = None  # its exit code once it ended
    signals: list[int] = field(default_factory=list)
    reaped: bool = False
    decoder: FrameDecoder = field(default_factory=FrameDecoder)

    def told(self) -> list[ControlMessage | None]:
        """What the supervisor sent it since the last call, decoded as a worker does."""
        messages: list[ControlMessage | None] = []
        while True:
            try:
                data = self.peer.recv(65536)
            except BlockingIOError:
                return messages
            messages.extend(decode(frame) for frame in self.decoder.feed(data))


class FakeProcesses:
    """Processes as a table. A kill ends the worker at once (as SIGKILL would); nothing else
    ends one but the test."""

    def __init__(self) -> None:
        self.workers: dict[int, FakeWorker] = {}
        self.next_pid = 1000

    def _start(self, forked: bool, generation: int) -> Started:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        theirs.setblocking(False)
        self.next_pid += 1
        self.workers[self.next_pid] = FakeWorker(self.next_pid, forked, generation, theirs)
        return Started(self.next_pid, ours)

    def fork(
        self, child_main: Callable[[socket.socket], int], close_in_child: Iterable[int]
    ) -> Started:
        return self._start(True, 0)

    def spawn(
        self,
        command: list[str],
        listeners: list[Listener],
        generation: int,
        limit: int | None,
        shares_fd: int | None = None,
    ) -> Started:
        return self._start(False, generation)

    def signal(self, pid: int, signum: int) -> None:
        self.workers[pid].signals.append(signum)

    def kill_tree(self, pid: int) -> None:
        worker = self.workers[pid]
        if worker.code is None:
            worker.code = KILLED

    def kill_group(self, pid: int) -> None:
        pass

    def exit_status(self, pid: int) -> int | None:
        return self.workers[pid].code

    def wait_exit(self, pid: int) -> int:
        return self.workers[pid].code or 0

    def sweep_temp_dirs(self, pid: int) -> int:
        return 0

    def reap(self, pid: int) -> None:
        assert self.workers[pid].code is not None, "reaped while running"
        self.workers[pid].reaped = True

    # -- for the tests -----------------------------------------------------------------------
    def running(self) -> list[FakeWorker]:
        return [w for w in self.workers.values() if w.code is None]

    def started_in(self, generation: int) -> list[FakeWorker]:
        return [w for w in self.workers.values() if w.generation == generation]

    def close(self) -> None:
        for worker in self.workers.values():
            worker.peer.close()


@pytest.fixture
def fake() -> Iterator[FakeProcesses]:
    processes = FakeProcesses()
    yield processes
    processes.close()


@pytest.fixture
def make(
    fake: FakeProcesses, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Supervisor]]:
    """make(workers=2, **server settings): a Supervisor on fake processes, not started."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    made: list[Supervisor] = []

    def build(workers: int = 2, start_method: str | None = None, **server: object) -> Supervisor:
        config = WorkerConfig(server=ServerSettings(**server))  # type: ignore[arg-type]
        options = RunOptions(config, [], False, False, workers, None, start_method=start_method)
        supervisor = Supervisor(options, [], processes=fake)
        made.append(supervisor)
        return supervisor

    yield build
    for supervisor in made:
        for worker in supervisor.workers.values():
            worker.sock.close()
        supervisor.selector.close()
        supervisor.inbox.close()


# -- small steps ---------------------------------------------------------------------------------
def handle(supervisor: Supervisor, pid: int) -> WorkerHandle:
    return supervisor.workers[pid]


def ready(supervisor: Supervisor, pids: Iterable[int], now: float) -> None:
    for pid in pids:
        supervisor.on_message(handle(supervisor, pid), Ready(pid), now)
    supervisor.advance(now)


def beat(supervisor: Supervisor, pid: int, now: float, served: int = 0, rss: int = 0) -> None:
    heartbeat = Heartbeat(served=served, rss=rss)
    supervisor.on_message(handle(supervisor, pid), heartbeat, now)


def end(fake: FakeProcesses, supervisor: Supervisor, pid: int, code: int, now: float) -> None:
    fake.workers[pid].code = code
    supervisor.advance(now)


def serving(
    make: Callable[..., Supervisor], fake: FakeProcesses, workers: int = 2, **server: object
) -> Supervisor:
    """Started at 0.0, every first worker READY at 1.0."""
    supervisor = make(workers, **server)
    supervisor.start(0.0)
    ready(supervisor, [w.pid for w in fake.running()], 1.0)
    assert supervisor.announced_ready
    return supervisor


def newest(fake: FakeProcesses) -> FakeWorker:
    return fake.workers[fake.next_pid]


# -- first start ---------------------------------------------------------------------------------
def test_the_first_workers_are_forked_one_per_slot_and_serve_once_all_are_ready(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = make(3)
    supervisor.start(0.0)
    assert [w.forked for w in fake.running()] == [True, True, True]
    pids = [w.pid for w in fake.running()]
    ready(supervisor, pids[:2], 0.5)
    assert not supervisor.announced_ready
    ready(supervisor, pids[2:], 0.6)
    assert supervisor.announced_ready
    assert supervisor.active is not None and len(supervisor.active.ready()) == 3


def test_with_start_method_spawn_no_worker_is_ever_forked(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = make(2, start_method="spawn")
    supervisor.start(0.0)
    ready(supervisor, [w.pid for w in fake.running()], 1.0)
    end(fake, supervisor, fake.running()[0].pid, KILLED, 2.0)  # its replacement too
    assert len(fake.workers) == 3
    assert not any(w.forked for w in fake.workers.values())


def test_a_first_worker_that_fails_on_its_own_stops_the_service_with_the_reason(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = make(2)
    supervisor.start(0.0)
    first, second = fake.running()
    end(fake, supervisor, first.pid, 3, 0.5)
    assert supervisor.fatal is not None and "exit code 3" in supervisor.fatal
    assert supervisor.stopping == "immediate"
    assert second.code == KILLED  # the other booting worker is killed, not left behind
    supervisor.advance(0.6)
    assert not supervisor.running
    assert all(w.reaped for w in fake.workers.values())


def test_first_workers_killed_from_outside_are_retried_then_the_service_gives_up(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = make(1)
    supervisor.start(0.0)
    now = 0.0
    for attempt in range(1, FIRST_START_RETRIES + 1):
        now += 0.01
        end(fake, supervisor, newest(fake).pid, KILLED, now)
        assert supervisor.fatal is None, f"gave up after {attempt} kill(s)"
        now += crash_backoff(attempt)
        supervisor.advance(now)
        assert len(fake.running()) == 1, f"no retry after kill {attempt}"
    end(fake, supervisor, newest(fake).pid, KILLED, now + 0.01)
    assert supervisor.fatal is not None and "killed before READY" in supervisor.fatal


def test_a_first_worker_without_ready_in_time_is_killed_and_the_start_fails(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = make(1, WORKER_BOOT_TIMEOUT=10.0)
    supervisor.start(0.0)
    worker = newest(fake)
    supervisor.advance(9.9)
    assert worker.code is None
    supervisor.advance(10.1)
    assert worker.code == KILLED
    supervisor.advance(10.2)  # its exit is seen
    assert supervisor.fatal is not None and "sent no READY within 10s" in supervisor.fatal


# -- replacing: backoff and floor ----------------------------------------------------------------
def test_deaths_before_ready_back_off_exponentially_per_slot(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=2)
    other = fake.running()[1]
    now = 5.0
    end(fake, supervisor, fake.running()[0].pid, 1, now)  # a READY worker crashed: at once
    assert len(fake.running()) == 2
    for deaths, wait in enumerate([0.0, 0.4, 0.8, 1.6, 3.2], start=1):
        now += 0.01
        end(fake, supervisor, newest(fake).pid, 1, now)  # its replacement dies booting
        if wait > 0:
            supervisor.advance(now + wait - 0.01)
            assert len(fake.running()) == 1, f"restarted before its backoff ({deaths} deaths)"
        supervisor.advance(now + wait)
        assert len(fake.running()) == 2, f"not restarted after its backoff ({deaths} deaths)"
        now += wait
    assert other.code is None  # the other slot was never held back


def test_the_backoff_grows_to_its_cap_and_no_further() -> None:
    waits = [crash_backoff(deaths) for deaths in range(1, 40)]
    assert waits[0] == 0.0
    assert waits[1] == pytest.approx(0.4)
    assert waits == sorted(waits)
    assert max(waits) == BACKOFF_MAX
    assert crash_backoff(10_000) == BACKOFF_MAX


def test_a_ready_worker_dying_just_after_its_start_is_replaced_after_the_respawn_floor(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=1)
    end(fake, supervisor, newest(fake).pid, 1, 2.0)  # at once: it had served
    replacement = newest(fake)
    ready(supervisor, [replacement.pid], 2.05)
    end(fake, supervisor, replacement.pid, 1, 2.1)
    supervisor.advance(2.0 + RESPAWN_FLOOR - 0.01)
    assert fake.running() == [], "restarted before the respawn floor"
    supervisor.advance(2.0 + RESPAWN_FLOOR)
    assert len(fake.running()) == 1


def test_a_worker_that_said_ready_resets_its_slots_backoff(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=1)
    now = 2.0
    end(fake, supervisor, newest(fake).pid, 1, now)
    for _ in range(4):  # four deaths in a row while booting: the next wait would be 3.2 s
        now += 10
        end(fake, supervisor, newest(fake).pid, 1, now)
        supervisor.advance(now + crash_backoff(4))
    ready(supervisor, [newest(fake).pid], now + 10)
    end(fake, supervisor, newest(fake).pid, 1, now + 20)  # it had served: at once
    assert len(fake.running()) == 1
    end(fake, supervisor, newest(fake).pid, 1, now + 21)  # a first death before READY again
    assert len(fake.running()) == 1, "the deaths before its READY still counted"


def test_a_replacement_killed_from_outside_while_booting_gets_no_backoff_only_spacing(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=1)
    now = 2.0
    end(fake, supervisor, newest(fake).pid, KILLED, now)  # a READY worker killed: at once
    for kills in range(1, 8):  # an operator's kill loop, or the OOM killer at each start
        started = now
        now += 0.1
        end(fake, supervisor, newest(fake).pid, KILLED, now)
        supervisor.advance(started + KILLED_BOOT_FLOOR - 0.01)
        assert fake.running() == [], f"started again within {KILLED_BOOT_FLOOR}s ({kills})"
        now = started + KILLED_BOOT_FLOOR
        supervisor.advance(now)
        assert len(fake.running()) == 1, f"backed off after {kills} kill(s) while booting"
    # The kills were not counted as deaths of its own: its first own failure is at once.
    end(fake, supervisor, newest(fake).pid, 1, now + 0.1)
    assert len(fake.running()) == 1


# -- no live worker ------------------------------------------------------------------------------
def test_zero_live_workers_is_an_outage_logged_at_its_start_and_its_end(
    make: Callable[..., Supervisor], fake: FakeProcesses, caplog: pytest.LogCaptureFixture
) -> None:
    supervisor = serving(make, fake, workers=1)
    assert supervisor.outage_since is None
    beat(supervisor, newest(fake).pid, 2.5)
    supervisor.advance(2.5)
    with caplog.at_level(logging.ERROR, logger="hwebserver"):
        end(fake, supervisor, newest(fake).pid, -signal.SIGSEGV, 3.0)
        # From its last heartbeat: it may have stopped serving before its exit was seen.
        assert supervisor.outage_since == 2.5
        assert "no live worker" in caplog.text
        ready(supervisor, [newest(fake).pid], 4.5)
    assert supervisor.outage_since is None
    assert "a worker serves again, after 2.00s with no live worker" in caplog.text


def test_one_live_worker_left_is_no_outage(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=2)
    end(fake, supervisor, fake.running()[0].pid, KILLED, 3.0)
    assert supervisor.outage_since is None


# -- heartbeats ----------------------------------------------------------------------------------
def test_a_silent_worker_gets_a_stack_dump_then_is_killed_and_replaced(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=1, WORKER_TIMEOUT=10.0)
    worker = newest(fake)
    beat(supervisor, worker.pid, 5.0)
    supervisor.advance(14.9)  # 9.9 s since its last heartbeat
    assert worker.signals == []
    supervisor.advance(15.1)
    assert worker.signals == [STACK_DUMP_SIGNAL]
    supervisor.advance(15.1 + DUMP_GRACE - 0.05)
    assert worker.code is None  # the dump is given time to be written
    supervisor.advance(15.1 + DUMP_GRACE)
    assert worker.code == KILLED
    supervisor.advance(15.2 + DUMP_GRACE)
    assert len(fake.running()) == 1 and newest(fake) is not worker
    assert supervisor.counters.exits["unresponsive"] == 1


def test_after_a_stall_of_the_supervisor_deadlines_count_from_the_resume(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=2, WORKER_TIMEOUT=10.0, GRACEFUL_TIMEOUT=5.0)
    supervisor.received.append(signal.SIGTTOU)
    supervisor.advance(2.0)  # one drains, with a deadline of 2 + 5 + KILL_MARGIN
    (draining,) = [w for w in fake.running() if w.told()]
    (serving_one,) = [w for w in fake.running() if w is not draining]
    assert handle(supervisor, draining.pid).deadline == 2.0 + 5.0 + KILL_MARGIN
    supervisor.resume_after_stall(30.0, stalled=28.0)  # stopped from 2.0 to 30.0
    supervisor.advance(30.0)
    assert serving_one.signals == [] and draining.code is None
    supervisor.advance(39.9)
    assert serving_one.signals == [] and draining.code is None
    supervisor.advance(40.1)
    assert draining.code == KILLED  # its drain deadline moved by the stall: 12 + 28
    assert serving_one.signals == [STACK_DUMP_SIGNAL]  # still silent: caught, from the resume


# -- recycling -----------------------------------------------------------------------------------
def test_a_worker_past_its_request_limit_is_replaced_first_then_drains(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=2, MAX_REQUESTS=100)
    old = fake.running()[0]
    beat(supervisor, old.pid, 2.0, served=99)
    supervisor.advance(2.0)
    assert len(fake.running()) == 2
    beat(supervisor, old.pid, 3.0, served=100)
    supervisor.advance(3.0)
    assert len(fake.running()) == 3  # the replacement starts first
    assert old.told() == []  # and the old one serves until it is READY
    ready(supervisor, [newest(fake).pid], 4.0)
    assert old.told() == [Drain(control.RETIRE)]
    assert handle(supervisor, old.pid).phase is Phase.RETIRING
    assert supervisor.counters.recycles == 1


def test_no_worker_is_recycled_while_its_generation_is_short_of_workers(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=2, MAX_REQUESTS=100)
    spent, other = fake.running()
    end(fake, supervisor, other.pid, 1, 2.0)  # its replacement boots
    beat(supervisor, spent.pid, 2.5, served=150)
    supervisor.advance(2.5)
    assert len(fake.running()) == 2, "recycled the only serving worker"
    ready(supervisor, [newest(fake).pid], 3.0)  # full strength again: now it is recycled
    assert len(fake.running()) == 3


def test_request_limits_get_jitter_so_workers_do_not_recycle_together() -> None:
    random.seed(29)
    limits = {request_limit(1000, 50) for _ in range(200)}
    assert min(limits) >= 1000 and max(limits) <= 1050
    assert len(limits) > 20
    assert request_limit(1000, 0) == 1000
    assert request_limit(0, 50) is None


def test_memory_above_the_limit_for_several_heartbeats_in_a_row_recycles(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=1, MAX_WORKER_MEMORY=100 * MIB)
    worker = newest(fake)
    now = 2.0
    for rss in [200, 200, 50, *[200] * (MEMORY_SAMPLES - 1)]:  # a dip starts the count again
        beat(supervisor, worker.pid, now, rss=rss * MIB)
        supervisor.advance(now)
        now += 1
    assert len(fake.running()) == 1, "recycled before enough samples above the limit"
    beat(supervisor, worker.pid, now, rss=200 * MIB)
    supervisor.advance(now)
    assert len(fake.running()) == 2
    assert "MAX_WORKER_MEMORY" in (handle(supervisor, worker.pid).recycle_reason or "")


# -- reload --------------------------------------------------------------------------------------
def test_a_reload_spawns_a_generation_and_promotes_it_once_all_are_ready(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=2, GRACEFUL_TIMEOUT=30.0)
    old = fake.running()
    supervisor.received.append(signal.SIGHUP)
    supervisor.advance(2.0)
    new = fake.started_in(1)
    assert [w.forked for w in new] == [False, False]  # spawned: the code as it is on disk
    ready(supervisor, [new[0].pid], 3.0)
    assert supervisor.active is not None and supervisor.active.number == 0
    assert all(w.told() == [] for w in old)
    ready(supervisor, [new[1].pid], 3.5)
    assert supervisor.active.number == 1 and supervisor.pending is None
    for worker in old:
        assert worker.told() == [Drain(control.RETIRE)]
        assert handle(supervisor, worker.pid).deadline == 3.5 + 30.0 + KILL_MARGIN
    assert supervisor.counters.reloads_succeeded == 1


def test_a_reload_whose_worker_reports_a_boot_failure_is_aborted_and_the_old_one_serves(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=2)
    old = fake.running()
    supervisor.received.append(signal.SIGHUP)
    supervisor.advance(2.0)
    broken, other = fake.started_in(1)
    failure = BootFailed("Traceback (most recent call last): ...", "NameError: x")
    supervisor.on_message(handle(supervisor, broken.pid), failure, 2.5)
    supervisor.advance(2.5)
    assert supervisor.pending is None
    assert other.code == KILLED  # its sibling goes too
    assert supervisor.active is not None and supervisor.active.number == 0
    assert all(w.code is None and w.told() == [] for w in old)
    assert supervisor.counters.reloads_failed == 1
    supervisor.advance(2.6)
    assert {w.pid for w in fake.running()} == {w.pid for w in old}  # nothing replaced
    if broken.code is None:  # it exits by itself after reporting
        end(fake, supervisor, broken.pid, 1, 2.7)
    assert supervisor.counters.exits["boot_failed"] == 1  # /metrics exits by cause


def test_a_reload_whose_worker_sends_no_ready_in_time_is_aborted(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=1, WORKER_BOOT_TIMEOUT=20.0)
    supervisor.received.append(signal.SIGHUP)
    supervisor.advance(2.0)
    (new,) = fake.started_in(1)
    supervisor.advance(21.9)
    assert supervisor.pending is not None
    supervisor.advance(22.1)
    assert supervisor.pending is None and new.code == KILLED
    assert supervisor.counters.reloads_failed == 1
    assert supervisor.fatal is None


def test_a_second_reload_supersedes_the_first_without_counting_a_failure(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=1)
    supervisor.received.append(signal.SIGHUP)
    supervisor.advance(2.0)
    (first,) = fake.started_in(1)
    supervisor.received.append(signal.SIGHUP)
    supervisor.advance(2.1)
    assert first.code == KILLED
    assert supervisor.pending is not None and supervisor.pending.number == 2
    assert supervisor.counters.reloads_failed == 0
    ready(supervisor, [fake.started_in(2)[0].pid], 3.0)
    assert supervisor.active is not None and supervisor.active.number == 2


# -- size and shutdown ---------------------------------------------------------------------------
def test_sigttou_drains_a_worker_and_sigttin_starts_one(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=2)
    supervisor.received.append(signal.SIGTTOU)
    supervisor.advance(2.0)
    drained = [w for w in fake.running() if w.told()]
    assert len(drained) == 1
    supervisor.received.append(signal.SIGTTIN)
    supervisor.advance(3.0)
    assert len(fake.running()) == 3  # two serving, one draining


def test_a_draining_worker_past_its_deadline_is_killed(
    make: Callable[..., Supervisor], fake: FakeProcesses
) -> None:
    supervisor = serving(make, fake, workers=1, GRACEFUL_TIMEOUT=10.0)
    worker = newest(fake)
    supervisor.received.append(signal.SIGTERM)
    supervisor.advance(2.0)
    assert worker.told() == [
        Unready(),
        Drain(control.SHUTDOWN_MODE),
    ]
    supervisor.advance(2.0 + 10.0 + KILL_MARGIN - 0.1)
    assert worker.code is None
    supervisor.advance(2.0 + 10.0 + KILL_MARGIN)
    assert worker.code == KILLED
    supervisor.advance(2.0 + 10.0 + KILL_MARGIN + 0.1)
    assert not supervisor.running

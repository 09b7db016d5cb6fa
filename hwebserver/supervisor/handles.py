"""What the supervisor knows of one worker process, and of one generation of workers."""

from __future__ import annotations

import enum
import math
import random
import socket
import subprocess
from collections import deque
from dataclasses import dataclass, field

from ..worker.common import control, messages
from ..worker.common.control import FrameDecoder
from ..worker.common.messages import ControlMessage, Heartbeat

MEMORY_SAMPLES = 3  # heartbeats in a row above MAX_WORKER_MEMORY before recycling
BACKOFF_BASE = 0.1
BACKOFF_MAX = 30.0
# Between two starts in one slot, even when its worker had booted: a worker that dies at its
# first request cannot make the supervisor fork in a tight loop.
RESPAWN_FLOOR = 0.25
# Between two starts in one slot whose workers are killed from outside while they boot (an
# operator's kill loop, the OOM killer at each start): no backoff, but no fork storm either.
KILLED_BOOT_FLOOR = 1.0


class Phase(enum.Enum):
    BOOTING = "booting"  # started, no READY yet
    READY = "ready"  # accepting
    RETIRING = "retiring"  # told to drain: another worker serves its sockets
    STOPPING = "stopping"  # told to drain for shutdown, or to stop
    KILLED = "killed"  # the supervisor gave up on it (boot failure, silence): killed


class WorkerHandle:
    """One worker process and the supervisor's end of its control pipe."""

    def __init__(
        self, pid: int, generation: Generation, sock: socket.socket, now: float, limit: int | None
    ) -> None:
        self.pid = pid
        self.generation = generation
        self.sock = sock
        self.decoder = FrameDecoder()
        self.phase = Phase.BOOTING
        self.started = now
        self.boot_clock = now  # WORKER_BOOT_TIMEOUT counts from here
        self.ready_at: float | None = None
        self.last_beat = now
        self.deadline: float | None = None  # killed (whole tree) when reached
        self.served = 0
        self.in_flight = 0
        self.lag = 0.0
        self.rss: deque[int] = deque(maxlen=MEMORY_SAMPLES)
        self.report = Heartbeat()  # the last one, as sent (request counts for /metrics)
        self.request_limit = limit
        self.recycle_reason: str | None = None
        self.failure: str | None = None  # why it is considered failed, with any traceback
        self.killed = False
        # Why the supervisor killed it, unless its failure says it (a drain past its deadline,
        # a reload given up): an exit by that SIGKILL is logged so, not as a signal from nowhere.
        self.kill_reason = ""
        # SIGUSR1 came while it booted (before its handler existed): sent when it is READY.
        self.reopen_pending = False
        self.process: subprocess.Popen[bytes] | None = None  # spawned workers only
        # Said in its READY: it runs @onWorkerStop hooks after draining, which get
        # GRACEFUL_TIMEOUT of their own, so its drain may last that much longer.
        self.stop_hooks = False

    def __str__(self) -> str:
        return f"worker {self.pid} (generation {self.generation.number})"

    @property
    def staying(self) -> bool:
        """Counts toward its generation's size: not leaving, not failed, not being recycled."""
        return (
            self.phase in (Phase.BOOTING, Phase.READY)
            and self.failure is None
            and self.recycle_reason is None
        )

    @property
    def accepting(self) -> bool:
        """Said READY and still takes new connections: not draining, not given up on."""
        return self.phase is Phase.READY and self.failure is None and not self.killed

    @property
    def signal_ready(self) -> bool:
        """Its own signal handlers are installed (it said READY)."""
        return self.ready_at is not None and not self.killed

    def send(self, message: ControlMessage) -> bool:
        """Best effort and never blocking: a worker that does not read is dealt with by its
        deadline or heartbeat timeout."""
        try:
            self.sock.send(messages.encode(message))
            return True
        except OSError:
            return False

    def receive(self) -> list[ControlMessage] | None:
        """The messages now readable; None at EOF (the worker is exiting) or when it breaks
        the protocol."""
        received: list[ControlMessage] = []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return received
            except OSError:
                return None
            if not data:
                return received or None
            try:
                decoded = [messages.decode(frame) for frame in self.decoder.feed(data)]
            except control.ControlProtocolError:
                return None
            received.extend(message for message in decoded if message is not None)

    def beat(self, heartbeat: Heartbeat, now: float) -> None:
        self.last_beat = now
        self.report = heartbeat
        self.served = heartbeat.served
        self.in_flight = heartbeat.in_flight
        self.lag = heartbeat.lag
        self.rss.append(heartbeat.rss)

    def resume(self, now: float, stalled: float) -> None:
        """The supervisor was not running for `stalled` seconds: the heartbeat and boot
        deadlines count from `now`, a set deadline (a drain, a stack dump) moves by the stall."""
        self.last_beat = max(self.last_beat, now)
        self.boot_clock = max(self.boot_clock, now)
        if self.deadline is not None:
            self.deadline += stalled

    def over_memory(self, limit: int) -> bool:
        return limit > 0 and len(self.rss) == MEMORY_SAMPLES and min(self.rss) > limit


def request_limit(max_requests: int, jitter: int) -> int | None:
    """MAX_REQUESTS plus a random share of MAX_REQUESTS_JITTER, so workers do not all recycle
    at once."""
    if max_requests <= 0:
        return None
    return max_requests + (random.randint(0, jitter) if jitter > 0 else 0)


def crash_backoff(early_deaths: int) -> float:
    """The wait before a slot's next start after this many deaths in a row before READY:
    none after the first, then 0.4 s, 0.8 s, ... up to 30 s."""
    if early_deaths <= 1:
        return 0.0
    # Capped exponent: the wait is at its maximum long before, and a float cannot overflow.
    return min(BACKOFF_MAX, BACKOFF_BASE * 2.0 ** min(early_deaths, 32))


@dataclass(eq=False)
class Slot:
    """A place for one worker in a generation, held by one worker after another. The crash
    backoff is kept per slot, so a place whose workers keep dying at start-up does not hold
    back the replacement of any other."""

    occupant: WorkerHandle | None = None
    early_deaths: int = 0  # in a row, before READY
    not_before: float = 0.0  # the next occupant's start
    last_start: float = -math.inf

    def take(self, worker: WorkerHandle, now: float) -> None:
        self.occupant = worker
        self.last_start = now

    def vacate(self, booted: bool, now: float) -> float:
        """Its worker is gone (or recycled); the wait before the next one starts, which is the
        wait kept. A worker that said READY ran code known to boot: replaced at once (after
        RESPAWN_FLOOR since the last start). One that died before READY may be in a crash
        loop at start-up: the wait grows while they keep doing so."""
        self.occupant = None
        if booted:
            self.early_deaths = 0
            self.not_before = max(now, self.last_start + RESPAWN_FLOOR)
        else:
            self.early_deaths += 1
            self.not_before = now + crash_backoff(self.early_deaths)
        return self.not_before - now

    def vacate_killed(self, now: float) -> float:
        """Its worker was killed from outside before READY: that says nothing of the code, so
        no crash backoff (and its count of early deaths stays as it was); the next start is
        only spaced from the last one. The wait."""
        self.occupant = None
        self.not_before = max(now, self.last_start + KILLED_BOOT_FLOOR)
        return self.not_before - now

    def due(self, now: float) -> bool:
        return self.occupant is None and now >= self.not_before


@dataclass(eq=False)
class Generation:
    """Workers running the same code. Generation 0 is forked from the supervisor; the others
    are spawned from the command line, so they load the code as it is on disk now."""

    number: int
    forked: bool
    size: int
    started: float
    ever_ready: bool = False
    workers: list[WorkerHandle] = field(default_factory=list)
    slots: list[Slot] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.resize(self.size)

    @property
    def starting_service(self) -> bool:
        """The service's first workers, none READY yet: a failure here means the
        application cannot start, and run() raises."""
        return self.number == 0 and not self.ever_ready

    def staying(self) -> list[WorkerHandle]:
        return [w for w in self.workers if w.staying]

    def ready(self) -> list[WorkerHandle]:
        return [w for w in self.workers if w.staying and w.phase is Phase.READY]

    def resize(self, size: int) -> list[WorkerHandle]:
        """Slots for `size` workers. When fewer are wanted, empty slots go first, then those of
        booting workers, then those of the newest; the workers that lost their slot are
        returned, to be retired."""
        while len(self.slots) < size:
            self.slots.append(Slot())
        surplus = len(self.slots) - size
        if surplus <= 0:
            return []
        dropped = sorted(self.slots, key=_retire_order)[:surplus]
        self.slots = [slot for slot in self.slots if slot not in dropped]
        return [slot.occupant for slot in dropped if slot.occupant is not None]

    def due_slots(self, now: float) -> list[Slot]:
        return [slot for slot in self.slots if slot.due(now)]

    def next_start(self) -> float:
        """When the soonest empty slot may be filled; infinity when none is empty."""
        return min((s.not_before for s in self.slots if s.occupant is None), default=math.inf)

    def slot_of(self, worker: WorkerHandle) -> Slot | None:
        """None once it left its slot (recycled, retired)."""
        return next((slot for slot in self.slots if slot.occupant is worker), None)


def _retire_order(slot: Slot) -> tuple[bool, bool, float]:
    worker = slot.occupant
    if worker is None:
        return (False, False, 0.0)
    return (True, worker.phase is Phase.READY, -worker.started)

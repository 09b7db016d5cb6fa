"""What the supervisor knows of one worker process, and of one generation of workers."""

from __future__ import annotations

import enum
import random
import socket
import subprocess
from collections import deque
from dataclasses import dataclass, field

from ..worker import control
from ..worker.control import FrameDecoder, Message

MEMORY_SAMPLES = 3  # heartbeats in a row above MAX_WORKER_MEMORY before recycling
BACKOFF_BASE = 0.1
BACKOFF_MAX = 30.0
STABLE_AFTER = 10.0  # a worker serving this long resets its generation's crash count


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
        self.ready_at: float | None = None
        self.last_beat = now
        self.deadline: float | None = None  # killed (whole tree) when reached
        self.served = 0
        self.in_flight = 0
        self.lag = 0.0
        self.rss: deque[int] = deque(maxlen=MEMORY_SAMPLES)
        self.request_limit = limit
        self.recycle_reason: str | None = None
        self.failure: str | None = None  # why it is considered failed, with any traceback
        self.killed = False
        # SIGUSR1 came while it booted (before its handler existed): sent when it is READY.
        self.reopen_pending = False
        self.process: subprocess.Popen[bytes] | None = None  # spawned workers only

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
    def signal_ready(self) -> bool:
        """Its own signal handlers are installed (it said READY)."""
        return self.ready_at is not None and not self.killed

    def send(self, kind: str, **fields: object) -> bool:
        """Best effort and never blocking: a worker that does not read is dealt with by its
        deadline or heartbeat timeout."""
        try:
            self.sock.send(control.encode(kind, **fields))
            return True
        except OSError:
            return False

    def receive(self) -> list[Message] | None:
        """The messages now readable; None at EOF (the worker is exiting)."""
        messages: list[Message] = []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return messages
            except OSError:
                return None
            if not data:
                return messages or None
            try:
                messages.extend(self.decoder.feed(data))
            except control.ControlProtocolError:
                return None

    def beat(self, message: Message, now: float) -> None:
        self.last_beat = now
        self.served = int(message.get("served", 0))
        self.in_flight = int(message.get("in_flight", 0))
        self.lag = float(message.get("lag", 0.0))
        self.rss.append(int(message.get("rss", 0)))

    def over_memory(self, limit: int) -> bool:
        return limit > 0 and len(self.rss) == MEMORY_SAMPLES and min(self.rss) > limit


def request_limit(max_requests: int, jitter: int) -> int | None:
    """MAX_REQUESTS plus a random share of MAX_REQUESTS_JITTER, so workers do not all recycle
    at once."""
    if max_requests <= 0:
        return None
    return max_requests + (random.randint(0, jitter) if jitter > 0 else 0)


@dataclass(eq=False)
class Generation:
    """Workers running the same code. Generation 0 is forked from the supervisor; the others
    are spawned from the command line, so they load the code as it is on disk now."""

    number: int
    forked: bool
    size: int
    started: float
    ever_ready: bool = False
    failures: int = 0  # consecutive early deaths, for the backoff
    next_start: float = 0.0
    workers: list[WorkerHandle] = field(default_factory=list)

    def live(self) -> list[WorkerHandle]:
        return list(self.workers)

    def staying(self) -> list[WorkerHandle]:
        return [w for w in self.workers if w.staying]

    def ready(self) -> list[WorkerHandle]:
        return [w for w in self.workers if w.staying and w.phase is Phase.READY]

    def record_death(self, worker: WorkerHandle, now: float) -> float:
        """A worker died unasked: its replacement waits longer while they keep dying early.
        Returns the wait."""
        lived = now - worker.ready_at if worker.ready_at is not None else 0.0
        if lived >= STABLE_AFTER:
            self.failures = 0
        return self.back_off(now)

    def back_off(self, now: float) -> float:
        """One more failure: the first is replaced at once, then 0.4 s, 0.8 s, ... 30 s."""
        self.failures += 1
        delay = 0.0 if self.failures <= 1 else min(BACKOFF_MAX, BACKOFF_BASE * 2**self.failures)
        self.next_start = now + delay
        return delay

"""How many connections each worker of a service holds, in memory its workers share.

The workers accept from the supervisor's listening sockets. Which of them the kernel wakes
for a new connection, and which wins the accept(), has nothing to do with how many
connections each already holds: under `wrk -c100` one worker held 59 connections and another
5. So each worker writes here how many it holds, and reads the others' before it accepts
(process/accepting.py). The table is one page the supervisor creates (a memfd, or an unlinked
temporary file) and hands to every worker: a forked worker inherits it, a spawned one
(a reload) gets its descriptor by number, like the listening sockets.

A slot per worker: its pid, whether it accepts now, the connections it holds, and when it last
wrote (the system-wide monotonic clock, in ms). A worker that stopped writing (its loop stuck,
or killed before the supervisor cleared its slot) is not counted after STALE_MS, so a worker
that cannot accept any more never holds the others back for long. Values are aligned 64-bit
words, written whole; a value read while another worker writes it is at worst one accept old.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import tempfile
import time

SLOTS = 127
FIELDS = 4  # pid, accepting, connections, stamp (ms)
_PID, _ACCEPTING, _HELD, _STAMP = range(FIELDS)
HEADER = FIELDS  # word 0: how many slots were ever claimed (the rest of the row is spare)
SIZE = (HEADER + SLOTS * FIELDS) * 8
# A worker's clock writes its slot every second (server.py CLOCK_INTERVAL): a slot unwritten
# for three is a worker that no longer runs its loop.
STALE_MS = 3000


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


class AcceptShares:
    """The shared table; `claim()` makes this process one of its workers."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._map = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._words = memoryview(self._map).cast("q")
        self._mine: int | None = None  # the first word of this process's slot

    @classmethod
    def create(cls) -> AcceptShares:
        """In the supervisor: a new, zeroed table whose descriptor workers inherit."""
        memfd_create = getattr(os, "memfd_create", None)
        if memfd_create is not None:
            fd = memfd_create("hwebserver-accept-shares", 0)
        else:
            with tempfile.TemporaryFile() as file:  # unlinked: gone with its last descriptor
                fd = os.dup(file.fileno())
        try:
            os.ftruncate(fd, SIZE)
            os.set_inheritable(fd, True)
            return cls(fd)
        except BaseException:
            os.close(fd)
            raise

    def claim(self, pid: int) -> bool:
        """Take a free (or stale) slot for `pid`; False when every slot is taken (this worker
        then accepts without looking at the others, and no other waits for it)."""
        words = self._words
        fcntl.flock(self.fd, fcntl.LOCK_EX)  # two workers starting at once take two slots
        try:
            now = _now_ms()
            for index in range(SLOTS):
                base = HEADER + index * FIELDS
                if words[base + _PID] == 0 or now - words[base + _STAMP] > STALE_MS:
                    words[base + _ACCEPTING] = 0
                    words[base + _HELD] = 0
                    words[base + _STAMP] = now
                    words[base + _PID] = pid
                    words[0] = max(words[0], index + 1)
                    self._mine = base
                    return True
            return False
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def publish(self, held: int, accepting: bool) -> None:
        """This worker's connections now, and whether it accepts."""
        base = self._mine
        if base is None:
            return
        words = self._words
        words[base + _HELD] = held
        words[base + _ACCEPTING] = int(accepting)
        words[base + _STAMP] = _now_ms()

    def least_held_by_others(self) -> int | None:
        """The fewest connections held by another worker that accepts; None if there is none
        (or this process has no slot)."""
        if self._mine is None:
            return None
        words, mine = self._words, self._mine
        oldest = _now_ms() - STALE_MS
        least: int | None = None
        for base in range(HEADER, HEADER + words[0] * FIELDS, FIELDS):
            if base == mine or not words[base + _ACCEPTING] or words[base + _STAMP] < oldest:
                continue
            held = words[base + _HELD]
            if least is None or held < least:
                least = held
        return least

    def release(self, pid: int | None = None) -> None:
        """Free the slot of `pid` (the supervisor, for a worker that exited), or this
        process's own (a worker that stops)."""
        words = self._words
        if pid is None:
            base = self._mine
            self._mine = None
            if base is not None:
                words[base + _ACCEPTING] = 0
                words[base + _PID] = 0
            return
        for base in range(HEADER, HEADER + words[0] * FIELDS, FIELDS):
            if words[base + _PID] == pid:
                words[base + _ACCEPTING] = 0
                words[base + _PID] = 0

    def close(self) -> None:
        self._mine = None
        self._words.release()
        self._map.close()
        os.close(self.fd)

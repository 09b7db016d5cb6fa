"""The server this process runs (in-process, supervisor or worker), for requestShutdown()."""

from __future__ import annotations

import threading
from typing import Protocol

from ...api.errors import OperationFailed


class Stoppable(Protocol):
    def request_stop(self) -> None:
        """Thread-safe, returns at once: stop the whole server."""


_lock = threading.Lock()
_current: list[Stoppable] = []


def claim(server: Stoppable) -> None:
    with _lock:
        if _current:
            raise OperationFailed("a server is already running in this process")
        _current.append(server)


def replace(server: Stoppable) -> None:
    """A forked worker takes over from the supervisor object it inherited."""
    with _lock:
        _current[:] = [server]


def release(server: Stoppable) -> None:
    with _lock:
        if _current and _current[0] is server:
            _current.clear()


def get() -> Stoppable | None:
    with _lock:
        return _current[0] if _current else None

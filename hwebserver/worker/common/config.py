"""The configuration one worker process serves with, derived from run() and the settings."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

from ...api.enums import webServerVerbosity
from ...api.internal.run_arguments import (
    DEFAULT_MAX_IN_MEMORY_UPLOAD,
    DEFAULT_MAX_REQUEST_SIZE,
    RunArguments,
)
from ...api.settings import PortSettings, ServerSettings


@dataclass
class Listener:
    """A bound, listening socket and what the server knows of it. `settings`: the port's
    validated settings as given (a dict: what was set); `options`: the same, typed."""

    name: str
    sock: socket.socket
    settings: dict[str, Any] = field(default_factory=dict)
    ssl_context: ssl.SSLContext | None = None
    # Built in the worker from `settings` (see policies/build.py); None when the port needs none.
    policy: Any = None
    options: PortSettings = field(init=False)

    def __post_init__(self) -> None:
        self.options = PortSettings.of(self.settings)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @classmethod
    def from_fd(cls, name: str, fd: int, settings: dict[str, Any]) -> Listener:
        """A listening socket inherited by fd number (a spawned worker, socket activation)."""
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        return cls(name, sock, settings)


@dataclass(frozen=True)
class WorkerConfig:
    """Immutable: one worker's settings; `server`: the server-wide settings, typed."""

    debug: bool = False
    verbosity: int = int(webServerVerbosity.Low)
    max_num_threads: int = RunArguments.max_num_threads
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE
    max_in_memory_file_upload_size: int = DEFAULT_MAX_IN_MEMORY_UPLOAD
    server: ServerSettings = field(default_factory=ServerSettings)

    @property
    def access_log(self) -> bool:
        return self.debug or self.verbosity >= webServerVerbosity.High

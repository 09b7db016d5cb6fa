"""Binding the listening sockets: the main port (with its fallbacks) and named extra ports."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..api.errors import OperationFailed
from ..worker.common.config import Listener
from ..worker.common.logs import logger

BACKLOG = 2048
HIGHEST_PORT = 65535


@dataclass
class ListenerSpec:
    """What to bind: a port (or a range, or OS-picked) on an address, for a named port."""

    name: str
    port: int
    address: str = "127.0.0.1"
    max_port: int | None = None
    allow_system_port: bool = False
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for number in (self.port, self.max_port):
            if number is not None and not 0 <= number <= HIGHEST_PORT:
                raise ValueError(
                    f"port {number} of {self.name!r} is out of range (0 to {HIGHEST_PORT})"
                )

    def candidates(self) -> list[int]:
        ports = [self.port]
        if self.max_port is not None and self.max_port > self.port:
            ports.extend(range(self.port + 1, self.max_port + 1))
        if self.allow_system_port and 0 not in ports:
            ports.append(0)
        return ports


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def bind_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(_family(address), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if sock.family == socket.AF_INET6 and address in ("::", ""):
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((address, port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
        # Workers spawned for a reload inherit it by fd number.
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_listener(spec: ListenerSpec) -> Listener:
    """Try the spec's ports in order; the first that binds wins, or OperationFailed says why."""
    errors: list[str] = []
    for port in spec.candidates():
        try:
            sock = bind_socket(spec.address, port)
        except OSError as exc:
            reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
            errors.append(f"{port}: {reason}")
            continue
        if errors:
            bound_port = sock.getsockname()[1]
            # A client configured for the asked port would not find the server: say so.
            logger.warning(
                "port %d of %r could not be bound (%s); serving on port %d instead",
                spec.port,
                spec.name,
                "; ".join(errors),
                bound_port,
            )
        return Listener(spec.name, sock, dict(spec.settings))
    tried = "; ".join(errors)
    raise OperationFailed(f"cannot bind {spec.name!r} port {spec.port} on {spec.address} ({tried})")


def bind_all(specs: Iterable[ListenerSpec]) -> list[Listener]:
    """All or nothing: if one listener fails, the ones already bound are closed again."""
    bound: list[Listener] = []
    try:
        for spec in specs:
            bound.append(bind_listener(spec))
    except BaseException:
        close_all(bound)
        raise
    return bound


def acquire_all(
    specs: list[ListenerSpec], inherited: list[tuple[str, socket.socket]]
) -> list[Listener]:
    """Listeners from sockets handed over by systemd where there are some, bound otherwise.

    An inherited socket whose name is a port name serves that port; the unnamed (or otherwise
    named) ones serve the remaining ports in order. Extra inherited sockets are closed.
    """
    by_name = {name: sock for name, sock in inherited if name}
    spare = [sock for name, sock in inherited if name not in {spec.name for spec in specs}]
    chosen: dict[str, socket.socket] = {}
    for spec in specs:
        if spec.name in by_name:
            chosen[spec.name] = by_name[spec.name]
        elif spare:
            chosen[spec.name] = spare.pop(0)
    for sock in spare:
        sock.close()
    acquired: list[Listener] = []
    try:
        for spec in specs:
            if spec.name in chosen:
                acquired.append(Listener(spec.name, chosen.pop(spec.name), dict(spec.settings)))
            else:
                acquired.append(bind_listener(spec))
    except BaseException:
        close_all(acquired)
        for sock in chosen.values():
            sock.close()
        raise
    return acquired


def close_all(listeners: Iterable[Listener]) -> None:
    for listener in listeners:
        try:
            listener.sock.close()
        except OSError:
            pass


def default_address(settings: dict[str, Any]) -> str:
    address = settings.get("ADDRESS")
    if address:
        return str(address)
    return "::1" if settings.get("IPV6") else "127.0.0.1"


__all__ = [
    "ListenerSpec",
    "acquire_all",
    "bind_all",
    "bind_listener",
    "close_all",
    "default_address",
]

"""The WebSocket base class that handler authors subclass, and the @webSocket decorator.

A plain object: the worker creates one instance per connection and attaches a channel (the
connection) to it; accept(), send() and close() go through that channel. Nothing here touches
a socket, so the class can be unit-tested with a fake channel.

Two shapes of subclass are understood, told apart by their methods' signatures:
- Houdini 20: connect(self, request), receive(self, text_data=None, bytes_data=None),
  disconnect(self, code);
- Houdini 19: connect(self), receive(self, message), disconnect(self).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from .errors import OperationFailed
from .routing import Route, websocket_routes

if TYPE_CHECKING:
    from .request import Request


class WebSocketClosed(OperationFailed):
    """send() on a WebSocket whose connection is closing or closed."""


class WebSocketChannel(Protocol):
    """What the worker's connection offers a WebSocket instance."""

    async def accept(self, subprotocol: str | None) -> None: ...

    def send_message(self, payload: bytes, is_text: bool) -> bool:
        """Hand one message to the connection; True when the client is behind (await drain())."""
        ...

    def encode(self, payload: bytes, is_text: bool) -> bytes:
        """The frame of a message, for send_frame() on any connection."""
        ...

    def send_frame(self, frame: bytes, payload: bytes, is_text: bool) -> bool:
        """send_message() of a frame that encode() made; True when the client is behind."""
        ...

    async def drain(self) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class WebSocket:
    """One instance per connection. Override connect(), receive() and disconnect()."""

    # Set by the server before connect() is called (see attach()).
    request: Request | None = None
    _channel: WebSocketChannel | None = None

    def attach(self, channel: WebSocketChannel, request: Request) -> None:
        """Called by the server: bind this instance to its connection and upgrade request."""
        self._channel = channel
        self.request = request

    # -- to override ------------------------------------------------------------------
    async def connect(self, request: Request) -> None:
        """Decide whether to accept the connection. The default accepts it."""
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """One call per complete message: text in text_data, binary in bytes_data."""

    async def disconnect(self, code: int) -> None:
        """The connection is closed (code: the close code, 1006 when it was cut)."""

    # -- to call ----------------------------------------------------------------------------
    async def accept(self, subprotocol: str | None = None) -> None:
        """Accept the connection (in `connect()`), optionally choosing one of the subprotocols the
        client offered. Not accepting answers 403."""
        await self._connected().accept(subprotocol)

    async def send(
        self,
        data: str | bytes | bytearray | memoryview | None = None,
        is_binary: bool | None = None,
        *,
        text_data: str | None = None,
        bytes_data: bytes | bytearray | memoryview | None = None,
    ) -> None:
        """Send one message. `send(data)`: a str goes as a text message, bytes as a binary
        one, unless `is_binary` says otherwise. `send(text_data=...)` and
        `send(bytes_data=...)`: Django Channels' spelling, the names `receive()` gets.
        Exactly one of `data`, `text_data` and `bytes_data` is given (else TypeError)."""
        if data is None or text_data is not None or bytes_data is not None:
            data, is_binary = _channels_keywords(data, is_binary, text_data, bytes_data)
        payload, is_text = message_payload(data, is_binary)
        channel = self._channel  # as _connected(), without a call per message
        if channel is None:
            raise OperationFailed("this WebSocket is not attached to a connection")
        if channel.send_message(payload, is_text):
            await channel.drain()

    @staticmethod
    async def broadcast(
        sockets: Iterable[WebSocket],
        data: str | bytes | bytearray | memoryview,
        is_binary: bool | None = None,
    ) -> int:
        """Send one message to every WebSocket of `sockets` that is open; returns how many got it.

        The message is encoded once, and handed to every connection before any is waited
        for: a client that reads slowly never delays the others. Then, like send(), it waits
        until each client that fell behind has taken in what it was sent (so a broadcast loop
        keeps no more than a message or so per slow client in memory). WebSockets that are
        closed, closing or not accepted yet are skipped, not raised for. `data` and
        `is_binary` as for send().
        """
        payload, is_text = message_payload(data, is_binary)
        behind: list[WebSocketChannel] = []
        sent = 0
        frame: bytes | None = None
        for socket in sockets:
            channel = socket._channel
            if channel is None:
                continue
            if frame is None:
                frame = channel.encode(payload, is_text)
            try:
                if channel.send_frame(frame, payload, is_text):
                    behind.append(channel)
            except OperationFailed:  # closed meanwhile, or not accepted yet: not a recipient
                continue
            sent += 1
        for channel in behind:
            try:
                await channel.drain()
            except OperationFailed:  # it disconnected while behind: nothing to wait for
                pass
        return sent

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; before accept() this refuses the connection (403)."""
        await self._connected().close(int(code), str(reason))

    def _connected(self) -> WebSocketChannel:
        channel = self._channel
        if channel is None:
            raise OperationFailed("this WebSocket is not attached to a connection")
        return channel


def message_payload(
    data: str | bytes | bytearray | memoryview, is_binary: bool | None
) -> tuple[bytes, bool]:
    """(the message's bytes, whether it goes as text): a str goes as text, bytes as binary,
    unless is_binary says otherwise; text given as bytes must be UTF-8."""
    if isinstance(data, str):
        return data.encode("utf-8"), not is_binary
    if isinstance(data, (bytes, bytearray, memoryview)):
        payload, is_text = bytes(data), is_binary is False
        if is_text:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValueError("send(..., is_binary=False) needs UTF-8 bytes") from exc
        return payload, is_text
    raise TypeError(f"WebSocket.send() takes str or bytes, not {type(data).__name__}")


def _positional_capacity(function: Callable[..., Any]) -> tuple[int, set[str], bool]:
    """(how many positional arguments after self it takes, its parameter names, **kwargs?)."""
    try:
        parameters = list(inspect.signature(function).parameters.values())[1:]  # drop self
    except (TypeError, ValueError):
        return 1, set(), False
    count = 0
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            count = 1 << 16
        elif parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            count += 1
    names = {p.name for p in parameters}
    var_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    return count, names, var_keyword


async def settle(result: Any) -> None:
    """The methods are meant to be async; a plain one is accepted too."""
    if inspect.isawaitable(result):
        await result


class WebSocketEndpoint:
    """A registered WebSocket class and how its methods are called (Houdini 20 or 19 shape)."""

    __slots__ = (
        "cls",
        "connect_takes_request",
        "disconnect_takes_code",
        "receive_both",
        "receive_keywords",
        "receive_positional",
    )

    def __init__(self, cls: type[WebSocket]) -> None:
        self.cls = cls
        count, _, _ = _positional_capacity(cls.connect)
        self.connect_takes_request = count >= 1
        count, names, var_keyword = _positional_capacity(cls.receive)
        if var_keyword:
            self.receive_keywords: frozenset[str] = frozenset(("text_data", "bytes_data"))
        else:
            self.receive_keywords = frozenset(names & {"text_data", "bytes_data"})
        # Houdini 19: receive(self, message) gets the str or bytes itself.
        self.receive_positional = not self.receive_keywords and count >= 1
        # The usual Houdini 20 shape, receive(text_data=None, bytes_data=None): called with
        # both keywords and no dict built per message.
        self.receive_both = len(self.receive_keywords) == 2
        count, _, _ = _positional_capacity(cls.disconnect)
        self.disconnect_takes_code = count >= 1

    def __repr__(self) -> str:
        return f"<WebSocketEndpoint {self.cls.__qualname__}>"

    def __call__(self) -> WebSocket:
        """A new instance for one connection."""
        return self.cls()

    async def connect(self, socket: WebSocket, request: Request) -> None:
        method: Any = socket.connect
        await settle(method(request) if self.connect_takes_request else method())

    def receive(self, socket: WebSocket, message: str | bytes) -> Any:
        """Call receive(); what it returned (a coroutine, for the usual async method)."""
        method: Any = socket.receive
        if self.receive_positional:
            return method(message)
        is_text = isinstance(message, str)
        if self.receive_both:
            if is_text:
                return method(text_data=message, bytes_data=None)
            return method(text_data=None, bytes_data=message)
        keywords: dict[str, Any] = {}
        if "text_data" in self.receive_keywords:
            keywords["text_data"] = message if is_text else None
        if "bytes_data" in self.receive_keywords:
            keywords["bytes_data"] = None if is_text else message
        return method(**keywords)

    async def disconnect(self, socket: WebSocket, code: int) -> None:
        method: Any = socket.disconnect
        await settle(method(code) if self.disconnect_takes_code else method())


def webSocket(
    path: str, is_prefix: bool = False, ports: Iterable[str | int] = ()
) -> Callable[[type[WebSocket]], type[WebSocket]]:
    """Class decorator: serve WebSocket connections to `path` with a `WebSocket` subclass,
    one instance per connection.

    Args:
        path: the URL path, with the same rules as `urlHandler`.
        is_prefix: also accept connections to every path below `path`.
        ports: port names (or `0`/`"main"`, `-1` for every port); the main port by default.

    Returns:
        A decorator that registers the class and returns it unchanged.

    Raises:
        TypeError: the decorated object is not a subclass of `hwebserver.WebSocket`.

    Example:
        ```python
        @hwebserver.webSocket("/echo")
        class Echo(hwebserver.WebSocket):
            async def connect(self, request):
                await self.accept()

            async def receive(self, text_data=None, bytes_data=None):
                await self.send(text_data if text_data is not None else bytes_data)
        ```
    """

    def register(cls: type[WebSocket]) -> type[WebSocket]:
        if not (isinstance(cls, type) and issubclass(cls, WebSocket)):
            raise TypeError("@webSocket decorates a subclass of hwebserver.WebSocket")
        endpoint = WebSocketEndpoint(cls)
        route = Route(path, endpoint, is_prefix=is_prefix, kind="websocket", is_async=True)
        websocket_routes.add(route, ports)
        return cls

    return register


def _channels_keywords(
    data: object, is_binary: bool | None, text_data: object, bytes_data: object
) -> tuple[str | bytes | bytearray | memoryview, bool]:
    """send()'s message and kind when given as text_data= or bytes_data=, checked."""
    values = {"data": data, "text_data": text_data, "bytes_data": bytes_data}
    given = [name for name, value in values.items() if value is not None]
    if len(given) != 1:
        which = " and ".join(given) if given else "none"
        raise TypeError(f"WebSocket.send() takes one of data, text_data or bytes_data; got {which}")
    if is_binary is not None:
        raise TypeError("WebSocket.send(): is_binary goes with data, not with text_data/bytes_data")
    if text_data is not None:
        if not isinstance(text_data, str):
            raise TypeError(
                f"WebSocket.send(text_data=...) takes str, not {type(text_data).__name__}"
            )
        return text_data, False
    if not isinstance(bytes_data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"WebSocket.send(bytes_data=...) takes bytes, not {type(bytes_data).__name__}"
        )
    return bytes_data, True

"""The synchronous WebSocket connection TestClient.websocket_connect() gives a test."""

from __future__ import annotations

import json
from typing import Any

from websockets.sync.client import ClientConnection


class WebSocketSession:
    """One WebSocket connection to the server under test (the `websockets` package's
    synchronous client underneath, so frames, masking and closing are real).

    Each receive waits at most `timeout` seconds (TimeoutError after that). When the server
    closes the connection, a receive raises `websockets.exceptions.ConnectionClosed`, whose
    `rcvd.code` is the code the server sent; `close_code` holds it too.
    """

    def __init__(self, connection: ClientConnection, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server accepted, None when it chose none."""
        return self.connection.subprotocol

    @property
    def close_code(self) -> int | None:
        """The close code the server sent, None while the connection is open."""
        return self.connection.close_code

    @property
    def close_reason(self) -> str | None:
        """The reason the server's close frame gave, None while the connection is open."""
        return self.connection.close_reason

    def send_text(self, text: str) -> None:
        """Send a text message."""
        self.connection.send(text)

    def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        self.connection.send(bytes(data))

    def send_json(self, value: Any) -> None:
        """Send `value` as JSON in a text message."""
        self.connection.send(json.dumps(value))

    def receive(self, timeout: float | None = None) -> str | bytes:
        """The next message: a str for a text message, bytes for a binary one."""
        return self.connection.recv(timeout=self.timeout if timeout is None else timeout)

    def receive_text(self, timeout: float | None = None) -> str:
        """The next message, which must be text (AssertionError for a binary one)."""
        message = self.receive(timeout)
        if not isinstance(message, str):
            raise AssertionError(f"a binary message came where text was expected: {message!r:.80}")
        return message

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next message, which must be binary (AssertionError for a text one)."""
        message = self.receive(timeout)
        if not isinstance(message, bytes):
            raise AssertionError(f"a text message came where binary was expected: {message!r:.80}")
        return message

    def receive_json(self, timeout: float | None = None) -> Any:
        """The next text message, decoded from JSON."""
        return json.loads(self.receive_text(timeout))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with `code` and wait for the server's answering close frame."""
        self.connection.close(code, reason)

    def __enter__(self) -> WebSocketSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

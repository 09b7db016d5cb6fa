"""Exceptions that handler authors and callers of run() see."""

from __future__ import annotations


class OperationFailed(Exception):
    """A call made in an invalid state (`Request.send()` twice, `body()` of a large
    multipart body, `send()` on a closed WebSocket), or a server that cannot start (a
    listener that cannot be bound, workers that fail to start): `run()` raises it."""


class APIError(Exception):
    """Raised by an API function to answer `{"error": message}` with a status.

    Args:
        message: the error message sent to the client.
        status: the HTTP status (422 by default).

    Example:
        ```python
        @hwebserver.apiFunction()
        def divide(request, a, b):
            if b == 0:
                raise hwebserver.APIError("b must not be 0", 400)
            return a / b
        ```
    """

    def __init__(self, message: object = "", status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = int(status)

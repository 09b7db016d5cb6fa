"""Exceptions that handler authors and callers of run() see."""

from __future__ import annotations


class OperationFailed(Exception):
    """A call made in an invalid state, or a listener that cannot be bound."""


class APIError(Exception):
    """Raised by an API function to answer with a JSON error and a status (default 422)."""

    def __init__(self, message: object = "", status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.status = int(status)

"""URLHandler and AsyncURLHandler: class-based handlers that register when constructed.

`allows_partial` (decided): like urlHandler's `is_prefix`, True makes the handler also answer
every path below its own (`/jobs` answers `/jobs/42/log`), with the usual rule that the longest
registered path wins; False matches the path alone (trailing slashes never matter).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .request import Request
from .response import Response
from .routing import Route, http_routes

ASYNC_HANDLER = "async_handler"


class URLHandler:
    """Subclass, override `handle(request) -> Response`, and construct an instance to register.

    `handle` runs like a plain urlHandler function: on the handler threads, never on the
    event loop, at most `max_num_threads` at a time.
    """

    def __init__(
        self,
        path: str,
        methods: Iterable[str] | None = None,
        allows_partial: bool = False,
        ports: Iterable[str | int] = (),
    ) -> None:
        self.path = path
        self.allows_partial = allows_partial
        self.route = http_routes.add(self._make_route(path, methods, allows_partial), ports)

    def _make_route(self, path: str, methods: Iterable[str] | None, allows_partial: bool) -> Route:
        return Route(path, self.handle, is_prefix=allows_partial, methods=methods, is_async=False)

    def handle(self, request: Request) -> Response | str | bytes:
        """Answer `request`: return a `Response`, a `str` or `bytes`. Override it."""
        raise NotImplementedError(f"{type(self).__name__} must override handle(request)")


class AsyncURLHandler(URLHandler):
    """Subclass, override `async def handle(request)`, and answer with `request.send(response)`.

    `handle` runs on the event loop. It may return before sending (e.g. after scheduling work
    that sends later, from the loop or from any thread). A second send() raises
    OperationFailed. A request nobody answered gets a 500, and a log line, as soon as nothing
    refers to it any more: at once when handle() returns without sending and kept no reference.
    An exception raised by handle() before it sent is answered with a 500 at once.
    """

    def _make_route(self, path: str, methods: Iterable[str] | None, allows_partial: bool) -> Route:
        route = Route(
            path,
            self.handle,
            is_prefix=allows_partial,
            methods=methods,
            kind=ASYNC_HANDLER,
            is_async=False,
            runs_exchange=True,
        )
        return route

    async def handle(self, request: Request) -> Any:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} must override handle(request)")

"""@apiFunction: register a function callable through POST /api (see calls.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from ..routing import PRIORITY_MOUNT, Route, http_routes, port_names
from .calls import api_endpoint
from .registry import ApiFunction, api_functions

API_PATH = "/api"
F = TypeVar("F", bound=Callable[..., Any])

# One route object serves /api on every port that has API functions. It ranks like a mount,
# so a urlHandler("/api") a user registers on purpose wins over it.
_api_route = Route(API_PATH, api_endpoint, kind="api", priority=PRIORITY_MOUNT, is_async=True)


def apiFunction(
    namespace: str | None = None,
    return_binary: bool = False,
    arg_types: Mapping[str, Callable[[Any], Any]] | None = None,
    ports: Iterable[str | int] = (),
) -> Callable[[F], F]:
    """Register `f(request, *args, **kwargs)`, plain or async, as an API function called
    `f.__name__`, or `namespace.f.__name__`, through `POST /api`.

    A client sends the function's name (`cmd_function`) with positional and keyword
    arguments, as form fields, a `json` form field or an `application/json` body holding
    `[name, [args], {kwargs}]`; `hwebserver.apiclient` does it for you. The result is sent as
    JSON (or as bytes with `return_binary`). Errors are `{"error": message}`: `APIError`
    gives 422 or its own status, an unknown function 404, bad arguments 400, any other
    exception 500 (its traceback only with `debug=True`). A plain function runs on the
    handler threads, an `async def` one on the event loop.

    Args:
        namespace: prefix of the name the clients call (`"geo"` makes `geo.length`).
        return_binary: send the result, bytes, as `application/octet-stream` rather than
            JSON.
        arg_types: converters applied to the named arguments before the call, e.g.
            `{"x": float}`; a value they reject answers 400.
        ports: port names (or `0`/`"main"` for the main port, `-1` for every port) the
            function is served on; the main port by default.

    Returns:
        A decorator that registers the function and returns it unchanged.

    Example:
        ```python
        @hwebserver.apiFunction(namespace="geo", arg_types={"x": float, "y": float})
        def length(request, x, y):
            return (x * x + y * y) ** 0.5

        # from another process:
        from hwebserver import apiclient
        apiclient.Service("http://127.0.0.1:8008/api").geo.length(3, 4)   # 5.0
        ```
    """

    def register(function: F) -> F:
        if not callable(function):
            raise TypeError("@apiFunction decorates a function")
        name = function.__name__ if not namespace else f"{namespace}.{function.__name__}"
        names = port_names(list(ports))
        api_functions.add(ApiFunction(name, function, return_binary, arg_types, names))
        http_routes.add(_api_route, names)
        return function

    return register

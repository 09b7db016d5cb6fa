"""@apiFunction: register a function callable through POST /api (see apicalls.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from .apicalls import api_endpoint
from .apiregistry import ApiFunction, api_functions
from .routing import PRIORITY_MOUNT, Route, http_routes, port_names

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
    """Register `f(request, *args, **kwargs)`, plain or async, as `f.__name__` or
    `namespace.f.__name__` on the given ports (the main port by default)."""

    def register(function: F) -> F:
        if not callable(function):
            raise TypeError("@apiFunction decorates a function")
        name = function.__name__ if not namespace else f"{namespace}.{function.__name__}"
        names = port_names(list(ports))
        api_functions.add(ApiFunction(name, function, return_binary, arg_types, names))
        http_routes.add(_api_route, names)
        return function

    return register

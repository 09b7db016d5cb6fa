"""Mounting WSGI and ASGI applications under a path prefix, and the opdef path.

A mount is a prefix route of low priority: any URL handler whose path matches a request at
least as specifically wins over it. The worker runs the app (worker/apps/wsgi.py, worker/apps/asgi.py);
this module only records it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .routing import (
    ALL_PORTS,
    PRIORITY_MOUNT,
    Route,
    http_routes,
)

WSGI = "wsgi"
ASGI = "asgi"


def mount_prefix(path: str) -> str:
    """The SCRIPT_NAME / root_path of a mount: '/' -> '', '/app/' -> '/app'."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"a mount path must start with '/', not {path!r}")
    return path.rstrip("/")


def _mount(application: Any, path: str, ports: Iterable[str | int], kind: str) -> Route:
    if not callable(application):
        raise TypeError(f"the {kind.upper()} application must be callable, not {application!r}")
    prefix = mount_prefix(path)
    route = Route(
        prefix or "/",
        application,
        is_prefix=True,
        kind=kind,
        priority=PRIORITY_MOUNT,
        is_async=False,
        runs_exchange=True,
    )
    route.streams_body = True
    return http_routes.add(route, ports)


def registerWSGIApp(application: Any, path: str = "/", ports: Iterable[str | int] = ()) -> None:
    """Serve a WSGI (PEP 3333) application (Flask, Django, ...) under `path`.

    The mount is a prefix route of low priority: a `urlHandler` whose path matches as long or
    longer wins. The app sees `SCRIPT_NAME` = `path` and `PATH_INFO` = the rest, runs on the
    handler threads, and reads the request body as it streams in.

    Args:
        application: the WSGI callable (`flask_app`, Django's `get_wsgi_application()`).
        path: the URL prefix it is mounted at.
        ports: port names (or `0`/`"main"`, `-1` for every port); the main port by default.

    Example:
        ```python
        from flask import Flask
        tools = Flask(__name__)
        hwebserver.registerWSGIApp(tools, "/tools")
        ```
    """
    _mount(application, path, ports, WSGI)


def registerASGIApp(application: Any, path: str = "/", ports: Iterable[str | int] = ()) -> None:
    """Serve an ASGI 3 application (Starlette, FastAPI, Django ASGI, ...) under `path`:
    HTTP with streamed bodies, WebSockets, and its lifespan once per worker process.

    The mount is a prefix route of low priority, as for `registerWSGIApp`. As the ASGI
    spec has it, `root_path` is the prefix and `path` the full path.

    Args:
        application: the ASGI 3 callable (`app(scope, receive, send)`).
        path: the URL prefix it is mounted at.
        ports: port names (or `0`/`"main"`, `-1` for every port); the main port by default.

    Example:
        ```python
        from fastapi import FastAPI
        api = FastAPI()
        hwebserver.registerASGIApp(api, "/v2")
        ```
    """
    _mount(application, path, ports, ASGI)


OpdefResolver = Callable[[str, str], "bytes | None"]


def registerOpdefPath(
    prefix: str = "/opdef", port: str | int = -1, resolver: OpdefResolver | None = None
) -> None:
    """Serve operator-definition sections under `prefix`.

    Args:
        prefix: the URL prefix.
        port: a port name, `0`/`"main"` for the main port, or `-1` for every port.
        resolver: `resolver(node_type_path, section) -> bytes | None`.

    `GET {prefix}/{node type path}?{section}` calls `resolver(node_type_path, section)`, e.g.
    `/opdef/Sop/box?IconImage` -> resolver("Sop/box", "IconImage"). Bytes are sent (typed by
    the section's file extension); None, or no resolver at all, gives 404. `port=-1` serves
    every port; a port name serves that port only.
    """
    from .internal.opdef import OpdefEndpoint

    base = mount_prefix(prefix)
    route = Route(
        base or "/",
        OpdefEndpoint(base, resolver),
        is_prefix=True,
        methods=("GET",),
        kind="opdef",
        priority=PRIORITY_MOUNT,
    )
    http_routes.add(route, ALL_PORTS if port is None else port)

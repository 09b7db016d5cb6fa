"""What run() warns about at start-up: a service that would start and then quietly answer 404
to everything, or stop as soon as it started. One WARNING line each, naming the file and what
to do; nothing here stops the service (a test harness may well register nothing)."""

from __future__ import annotations

import atexit
import os
import sys
from types import ModuleType

from . import command_line
from .api.routing import http_routes, websocket_routes
from .app_mounts import application_kind
from .worker.common.logs import logger
from .worker.files.static import StaticDirectory
from .worker.process.inprocess import InProcessServer

# Names gunicorn and uvicorn users give their application object (gunicorn's default first).
APPLICATION_NAMES = ("application", "app")


def service_name() -> str:
    """The file (or module) the user started: APP under the command line, else the script."""
    typed = command_line.active()
    if typed is not None and typed.app:
        return typed.app
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return os.path.basename(main_file) if main_file else "the application"


def service_module() -> ModuleType | None:
    """The module whose globals may hold a WSGI/ASGI application object."""
    typed = command_line.active()
    if typed is not None and typed.app:
        path = typed.app.rpartition(":")[0] or typed.app
        name = os.path.splitext(os.path.basename(path))[0] if path.endswith(".py") else path
        return sys.modules.get(name)
    return sys.modules.get("__main__")


def warn_about_what_is_registered(name: str) -> None:
    routes = http_routes.routes()
    if not routes and not websocket_routes.routes():
        logger.warning(
            "%s registered nothing: every request will get 404. %s", name, _what_to_do(name)
        )
    seen: set[int] = set()
    for _port, route in routes:
        directory = getattr(route.endpoint, "__self__", None)
        if not isinstance(directory, StaticDirectory) or id(directory) in seen:
            continue
        seen.add(id(directory))
        problem = directory.missing()
        if problem is not None:
            logger.warning(
                "%s: %s; every request under %s will get 404: create it, or register a path "
                "built from the script's own location (os.path.dirname(__file__))",
                name,
                problem,
                route.path,
            )


def _what_to_do(name: str) -> str:
    module = service_module()
    for attribute in APPLICATION_NAMES:
        found = getattr(module, attribute, None) if module is not None else None
        kind = application_kind(found) if found is not None else None
        if kind is not None and not _is_plain_function_of_ours(found):
            where = name.rpartition(":")[0] or name
            return (
                f"It defines {attribute!r}, a {kind[0]} application: serve it with "
                f"`hwebserver {where}:{attribute}`, or call "
                f"hwebserver.register{kind[0]}App({attribute}) in it"
            )
    return (
        "Register handlers with @hwebserver.urlHandler(...) (or mount a WSGI/ASGI app with "
        "hwebserver.registerWSGIApp/registerASGIApp) before run()"
    )


def _is_plain_function_of_ours(found: object) -> bool:
    """A function of hwebserver itself (`from hwebserver import run as app`) is no app."""
    return getattr(found, "__module__", "").startswith("hwebserver")


# The last run(in_background=True) of this process, and the name of its script: one exit
# check for the process, whatever number of servers it started and stopped (a test suite's).
_last_background: list[tuple[str, InProcessServer]] = []


def warn_if_script_ends_while_serving(name: str, running: InProcessServer) -> None:
    """run(in_background=True) in a plain script: when the script ends, so does the server
    (it serves from a daemon thread). Said at exit, if it was still serving then and nobody
    had asked it to stop."""
    if sys.flags.interactive or hasattr(sys, "ps1"):
        return  # a Python prompt or a host application: it keeps running after the script
    if not _last_background:
        atexit.register(_check_at_exit)
    _last_background[:] = [(name, running)]


def _check_at_exit() -> None:
    for name, running in _last_background:
        if running.serving:
            logger.warning(
                "%s ended while run(in_background=True) was serving: the server stops with it. "
                "Pass in_background=False to block until Ctrl-C, or keep the script running",
                name,
            )
    _last_background.clear()

"""`hwebserver MODULE:ATTR`: serve the WSGI or ASGI application a module defines, at /.

gunicorn and uvicorn users name an application object, not a script that registers handlers.
Which protocol it speaks is read from the object itself (an ASGI application is awaited, so
it, or its `__call__`, is an `async def`), and the start-up log says which was chosen and why.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

from .api.mounts import registerASGIApp, registerWSGIApp
from .worker.common.logs import logger, setup_console_logging
from .worker.process import launch


def application_kind(application: Any) -> tuple[str, str] | None:
    """("ASGI" or "WSGI", why), or None for what is no application (a class, a value)."""
    if isinstance(application, type) or not callable(application):
        return None
    if inspect.iscoroutinefunction(application):
        return "ASGI", "it is an async def"
    if inspect.iscoroutinefunction(getattr(application, "__call__", None)):  # noqa: B004
        return "ASGI", "its __call__ is an async def"
    return "WSGI", "a plain callable (an ASGI application would be an async def)"


def mount_attribute(module: ModuleType, where: str, attribute: str) -> None:
    """Mount `module.attribute` at /; a missing attribute or one that is no application is a
    start-up failure in one line."""
    application: Any = module
    for part in attribute.split("."):
        if not hasattr(application, part):
            raise SystemExit(f"hwebserver: {where} has no attribute {attribute!r}")
        application = getattr(application, part)
    kind = application_kind(application)
    if kind is None:
        raise SystemExit(
            f"hwebserver: {where}:{attribute} is a {type(application).__name__}, not a WSGI or "
            "ASGI application"
            + (" (a class: give the application object)" if isinstance(application, type) else "")
        )
    protocol, why = kind
    if protocol == "ASGI":
        registerASGIApp(application, "/")
    else:
        registerWSGIApp(application, "/")
    if not launch.started_by_supervisor():  # said once, not again by each reload's worker
        setup_console_logging()
        article = "an" if protocol == "ASGI" else "a"
        logger.info(
            "serving %s:%s at / as %s %s application: %s", where, attribute, article, protocol, why
        )

"""What calling an ASGI app does: whether its coroutine can be started as it is.

Calling an `async def` app only makes a coroutine, so the worker starts that coroutine itself,
with no wrapper of its own around it (apps/asgi.py). Any other callable (a plain function that
returns a coroutine, a class whose instances are awaited) runs code of its own when called: it
is called inside a wrapper coroutine, in the request's context, and what it returns awaited.
"""

from __future__ import annotations

import inspect
import types
from typing import Any


def only_makes_a_coroutine(app: Any) -> bool:
    """True for an `async def` function or method, or an object whose class's __call__ is
    one (Starlette, FastAPI, Django, most middlewares)."""
    if _is_async_def(app):
        return True
    if isinstance(app, type):  # calling a class runs its __init__ (e.g. HTTPEndpoint)
        return False
    return _is_async_def(_call_method_of(type(app)))


def _call_method_of(cls: type) -> Any:
    """What `cls.__dict__` (or a base's) holds as __call__: the function as written."""
    for base in cls.__mro__:
        if "__call__" in base.__dict__:
            return base.__dict__["__call__"]
    return None


def _is_async_def(function: Any) -> bool:
    function = getattr(function, "__func__", function)  # a bound method: its function
    return isinstance(function, types.FunctionType) and bool(
        function.__code__.co_flags & inspect.CO_COROUTINE
    )

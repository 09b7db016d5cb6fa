"""isolated_registry(): what a test registers is gone when it ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..api.internal.registries import every_registry


@contextmanager
def isolated_registry() -> Iterator[None]:
    """Inside the block, register handlers, API functions, WebSockets, mounts, static
    directories and port settings freely; on leaving it (even by an exception) every
    registry holds again exactly what it held on entry. Also usable as a decorator.

    Example:
        ```python
        with isolated_registry():
            @hwebserver.urlHandler("/only-here")
            def only_here(request):
                return "here"
            ...
        # /only-here is not registered any more
        ```
    """
    registries = every_registry()
    saved = {name: registry.snapshot() for name, registry in registries.items()}
    try:
        yield
    finally:
        for name, registry in registries.items():
            registry.restore(saved[name])

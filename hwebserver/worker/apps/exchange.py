"""Routes that run a whole exchange themselves: WSGI and ASGI mounts, AsyncURLHandler.

The connection calls its kind's starter in STARTERS for a route that `runs_exchange`, with
the request already counted in flight and admitted by its port's gate (http/gate.py: an
adapter takes an AdmittedRoute, which only the gate makes). The adapter must end it exactly
once, through the Connection (http/seams.py): respond() (a Response), finish() (it wrote the
response itself), or abandon() (the client went away).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...api.handlers import ASYNC_HANDLER
from ...api.mounts import ASGI, WSGI
from . import asgi, async_handler, wsgi

if TYPE_CHECKING:
    from ..http.seams import ExchangeStarter

STARTERS: dict[str, ExchangeStarter] = {
    WSGI: wsgi.start,
    ASGI: asgi.start,
    ASYNC_HANDLER: async_handler.start,
}

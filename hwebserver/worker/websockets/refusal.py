"""An upgrade request answered with an HTTP error instead of 101, for either kind of WebSocket.

Kept apart from the sessions so that a refusal at the gate (worker/http/gate.py) does not load
the websockets library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..http.response_head import CLOSE, build_head, content_length_line

if TYPE_CHECKING:
    from ...api.request import Request
    from ...api.response import Response
    from ..http.seams import Connection


def write_refusal(http: Connection, response: Response) -> None:
    """Answer the upgrade request with a plain HTTP response, then close the connection."""
    body = response.body_bytes
    head = build_head(response, content_length_line(len(body)), CLOSE, http.state.date_server)
    http.transport.write(head + body)
    http.linger()  # half-close; the client reads the answer, then the clock cuts


def refuse(http: Connection, request: Request, response: Response) -> None:
    """Refused before any session began: logged (access log, and why), answered, closed."""
    state = http.state
    state.log.lifecycle(
        "refused WebSocket %s: %d %s",
        request.url_path,
        response.status_code,
        response.body_bytes[:200].decode("utf-8", "replace").strip(),
    )
    if state.access_log:
        client = request.conn.client
        state.log.access(
            f"{client[0]}:{client[1]}",
            request.http_method,
            request.url_path,
            response.status_code,
            0,
            0.0,
            query=request.query,
        )
    request.cleanup()
    write_refusal(http, response)

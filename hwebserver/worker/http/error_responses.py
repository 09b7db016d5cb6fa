"""Errors the protocol answers itself, and the 500 a failing handler produces."""

from __future__ import annotations

import json

from ...api.helpers import errorResponse, wants_json
from ...api.internal.tracebacks import format_user_exception
from ...api.request import Request
from ...api.response import Response


class HttpError(Exception):
    """A request the server refuses before any handler sees it (400, 408, 413, 414, 431, 505)."""

    def __init__(self, status: int, message: str, as_json: bool = False) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        # Known only for some errors (a bad form body sent to /api, or by a JSON client).
        self.as_json = as_json


def rejection_response(error: HttpError) -> Response:
    if error.as_json:
        body = json.dumps({"error": error.message})
        return Response(body, error.status, content_type="application/json")
    return errorResponse(None, error.message, error.status)


def error_response(request: Request, exc: BaseException | None, debug: bool) -> Response:
    """500: the traceback (from the application's first frame) goes to the client only in
    debug mode."""
    if debug and exc is not None:
        text = format_user_exception(exc)
        if wants_json(request):
            return errorResponse(request, text, 500)
        return Response(text, 500, content_type="text/plain")
    return errorResponse(request, "Internal Server Error", 500)

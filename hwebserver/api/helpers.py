"""Response helpers: errors, 404, redirects and file downloads."""

from __future__ import annotations

import html
import json
import mimetypes
import os
from typing import Any
from urllib.parse import quote

from .request import Request
from .response import Response


def wants_json(request: Request | None) -> bool:
    if request is None:
        return False
    accept = request.headers().get("Accept", "")
    return "application/json" in accept.lower()


def errorResponse(
    request: Request | None, error_message: Any, status: int = 500, use_heading: bool = True
) -> Response:
    """JSON {"error": ...} for clients that accept JSON, an escaped HTML page otherwise."""
    if wants_json(request):
        body = json.dumps({"error": error_message}, default=str)
        return Response(body, status=status, content_type="application/json")
    text = html.escape(str(error_message))
    content = f"<h1>{text}</h1>" if use_heading else text
    page = f"<!DOCTYPE html>\n<html><head><title>{status}</title></head><body>{content}</body></html>\n"
    return Response(page, status=status)


def notFoundResponse(request: Request) -> Response:
    return errorResponse(request, f"Not found: {request.path()}", status=404)


def redirect(request: Request, path: str, permanent: bool = False) -> Response:
    response = Response(b"", status=301 if permanent else 302)
    response.setHeader("Location", request.absoluteURI(path))
    return response


def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII fallback name plus the exact name in RFC 5987 encoding."""
    fallback = "".join(
        ch if 32 <= ord(ch) < 127 and ch not in '"\\%/' else "_"
        for ch in os.path.basename(filename)
    )
    encoded = quote(os.path.basename(filename), safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def guess_content_type(file_path: str) -> str:
    content_type, encoding = mimetypes.guess_type(file_path)
    if content_type is None or encoding is not None:
        # A .gz file served as text/plain+gzip would be decoded by browsers: send it raw.
        return "application/octet-stream"
    return content_type


def fileResponse(
    file_path: str,
    content_type: str | None = None,
    delete_file: bool = False,
    download_as_filename: str | None = None,
) -> Response:
    """Stream a file (sendfile where possible); a missing file becomes 404 when sent."""
    path = os.fspath(file_path)
    response = Response(
        path,
        content_type=content_type or guess_content_type(path),
        is_file_name=True,
        delete_file=delete_file,
    )
    if download_as_filename is not None:
        response.setHeader("Content-Disposition", content_disposition(download_as_filename))
    return response

"""Response helpers: errors, 404, redirects and file downloads."""

from __future__ import annotations

import html
import json
import mimetypes
import os
import re
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
    """An error answer: `{"error": message}` as JSON for a client that accepts JSON, an HTML
    page with the message escaped otherwise.

    Args:
        request: the request answered (its `Accept` header chooses JSON or HTML); `None`
            gives HTML.
        error_message: the message; any value JSON can encode (it is `str()`-ed for HTML).
        status: the HTTP status.
        use_heading: put the message in an `<h1>` of the HTML page.

    Returns:
        The response, to return from a handler.

    Example:
        ```python
        @hwebserver.urlHandler("/item")
        def item(request):
            item_id = request.GET().get("id")
            if item_id not in ITEMS:
                return hwebserver.errorResponse(request, f"no item {item_id}", 404)
            return ITEMS[item_id]
        ```
    """
    if wants_json(request):
        body = json.dumps({"error": error_message}, default=str)
        return Response(body, status=status, content_type="application/json")
    text = html.escape(str(error_message))
    content = f"<h1>{text}</h1>" if use_heading else text
    page = f"<!DOCTYPE html>\n<html><head><title>{status}</title></head><body>{content}</body></html>\n"
    return Response(page, status=status)


def notFoundResponse(request: Request) -> Response:
    """The 404 answer for `request`: `Not found: <path>`, as JSON or HTML like
    `errorResponse`.

    Args:
        request: the request answered.

    Returns:
        The response, to return from a handler.
    """
    return errorResponse(request, f"Not found: {request.path()}", status=404)


def redirect(
    request: Request, path: str, permanent: bool = False, *, absolute: bool = True
) -> Response:
    """A redirect to `path`, made absolute against the request's own URL (scheme, host and
    port as the client used them), as Houdini does.

    The host is the one the client asked for (`Host`, checked by the server, and by
    `ALLOWED_HOSTS` when the port sets it; `X-Forwarded-Host` where the port sets
    `USE_X_FORWARDED_HOST`). Behind a proxy that does not pass the client's host on, or to
    send no host at all, pass `absolute=False`: the `Location` is then `path` as given,
    which clients resolve against the URL they asked for.

    `path` is checked and encoded: a control character (CR, LF, tab, NUL, ...) raises
    `ValueError` (it would be stripped or split the header); spaces, non-ASCII text and other
    characters a URL cannot hold are percent-encoded (escapes already there are kept); and a
    path that starts with `//` or `/\\` stays a path on this host (`/%2Fevil.example`), never
    the name of another host. An absolute URL (`https://example.com/`) is used as given.

    Args:
        request: the request answered.
        path: where to send the client: a path (`/login`), a reference relative to the
            request's path (`../list`), or an absolute URL.
        permanent: 301 rather than 302.
        absolute: (extension) make the `Location` absolute (the default, as in Houdini);
            `False` keeps `path` as given.

    Returns:
        The response, to return from a handler.

    Raises:
        ValueError: `path` holds a control character.

    Example:
        ```python
        @hwebserver.urlHandler("/old")
        def old(request):
            return hwebserver.redirect(request, "/new", permanent=True)
        ```
    """
    location = redirect_location(path)
    response = Response(b"", status=301 if permanent else 302)
    response.setHeader("Location", request.absoluteURI(location) if absolute else location)
    return response


# What a Location may hold as it is (RFC 3986's unreserved and reserved characters and the
# percent sign of an escape); anything else is percent-encoded as UTF-8.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def redirect_location(path: str) -> str:
    """`path` as a Location value: refused with a control character, encoded, and kept on
    this host when it is a path (see redirect)."""
    if not isinstance(path, str):
        raise TypeError(f"a redirect location must be a str, not {type(path).__name__}")
    control = _CONTROL.search(path)
    if control is not None:
        raise ValueError(
            f"a redirect location may not hold a control character: {path!r} has "
            f"{control.group()!r} at {control.start()}"
        )
    location = quote(_STRAY_PERCENT.sub("%25", path), safe=_URL_SAFE)
    if location.startswith("//"):
        # A network-path reference would name a host: as a path it is '/' and an encoded '/'.
        location = "/%2F" + location[2:]
    return location


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
    """Answer with the contents of a file, streamed from disk (with `sendfile` where
    possible), never read into memory whole.

    Args:
        file_path: the file to send. A file missing when the response is sent answers
            404, as does a path that cannot name a file (a NUL in it; logged). Only a
            regular file is sent: a FIFO, a device or a directory answers 500, as does a
            file the worker may not read (logged); the connection goes on.
        content_type: its media type; guessed from the file name by default.
        delete_file: delete the file once it has been sent (a temporary export).
        download_as_filename: ask the browser to save it under this name
            (`Content-Disposition: attachment`).

    Returns:
        The response, to return from a handler.

    Example:
        ```python
        @hwebserver.urlHandler("/report")
        def report(request):
            path = build_report()               # a temporary file
            return hwebserver.fileResponse(path, "application/pdf", delete_file=True,
                                           download_as_filename="report.pdf")
        ```
    """
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

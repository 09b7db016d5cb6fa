"""What answers for a directory of registerStaticFilesDirectory() (registered by api/files.py).

Serving happens on the event loop: resolving
the path, open() and fstat() are local file-system calls, and the bytes go out with
sendfile (a copy loop over TLS) as for any file response.

Answers: 200 with ETag, Last-Modified and Accept-Ranges; 304 for a matching If-None-Match
(or, without one, If-Modified-Since); 206 for one satisfiable byte range (GET only,
honouring If-Range), 416 with `Content-Range: bytes */size` for an unsatisfiable one, the
whole file for several ranges; 404 for anything missing, not a regular file, or outside the
directory; 405 with Allow for methods other than GET and HEAD.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any, NamedTuple

from ...api.helpers import guess_content_type, notFoundResponse
from ...api.request import Request
from ...api.response import Response
from ..http import response_streams
from ..http.response_streams import FileRangeResponse
from . import conditional
from .paths import prefix_segments, relative_segments, resolve_inside


class StaticDirectory:
    """One registered directory; `serve` is the route's endpoint."""

    __slots__ = ("given", "prefix", "root")

    def __init__(self, directory: str, url_prefix: str) -> None:
        # Resolved once: requests are checked against the directory as it was registered.
        self.root = os.path.realpath(os.fspath(directory))
        self.prefix = prefix_segments(url_prefix)
        self.given = directory

    def missing(self) -> str | None:
        """Why nothing under it can be served (run() warns at start-up), or None."""
        if os.path.isdir(self.root):
            return None
        relative = "" if os.path.isabs(self.given) else " (relative to the working directory)"
        exists = "is not a directory" if os.path.exists(self.root) else "does not exist"
        return f"static directory {self.given!r} {exists}: {self.root}{relative}"

    async def serve(self, request: Request) -> Response:
        return self.answer(request)

    def answer(self, request: Request) -> Response:
        segments = relative_segments(request.target, self.prefix)
        path = None if segments is None else resolve_inside(self.root, segments)
        opened = None if path is None else open_regular(path)
        if segments is None or path is None or opened is None:
            return notFoundResponse(request)
        file, info = opened
        try:
            return _file_answer(request, path, segments[-1], file, info)
        except BaseException:
            file.close()
            raise


def open_regular(path: str) -> tuple[Any, os.stat_result] | None:
    """The open file and its stat, when `path` is a regular file we may read, not reached
    through a symbolic link as its last component; None otherwise."""
    try:
        return response_streams.open_regular(path, follow_symlinks=False)
    except (OSError, ValueError):
        return None


class FilePlan(NamedTuple):
    """Which bytes of a file answer a request, with what status and validator headers."""

    offset: int
    length: int
    status: int
    headers: dict[str, str]


def plan_answer(request: Request, etag: str, mtime: float, size: int) -> Response | FilePlan:
    """The rules every served file follows: a 304 or a 416 is answered here; otherwise the
    whole file (200) or one satisfiable range (206, GET only, honouring If-Range)."""
    headers = request.headers()
    validators = {"ETag": etag, "Last-Modified": conditional.http_date(mtime)}
    if _not_modified(headers, etag, mtime):
        return _bodiless(304, validators)
    offset, count, status = 0, size, 200
    range_header = headers.get("Range")
    if (
        range_header is not None
        and request.http_method == "GET"
        and conditional.if_range_holds(headers.get("If-Range"), etag, mtime)
    ):
        chosen = conditional.parse_range(range_header, size)
        if chosen == conditional.UNSATISFIABLE:
            return _unsatisfiable(size, validators)
        if chosen is not None:
            first, last = chosen
            offset, count, status = first, last - first + 1, 206
            validators["Content-Range"] = f"bytes {first}-{last}/{size}"
    validators["Accept-Ranges"] = "bytes"
    return FilePlan(offset, count, status, validators)


def _file_answer(
    request: Request, path: str, name: str, file: Any, info: os.stat_result
) -> Response:
    plan = plan_answer(request, conditional.file_etag(info), info.st_mtime, info.st_size)
    if isinstance(plan, Response):
        file.close()
        return plan
    response = FileRangeResponse(
        path, file, plan.offset, plan.length, plan.status, content_type_of(name)
    )
    for header, value in plan.headers.items():
        response.setHeader(header, value)
    return response


@lru_cache(maxsize=1024)
def content_type_of(name: str) -> str:
    return guess_content_type(name)


def _not_modified(headers: Any, etag: str, mtime: float) -> bool:
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:  # RFC 9110 13.1.3: it takes precedence over the date
        return conditional.none_match(if_none_match, etag)
    if_modified_since = headers.get("If-Modified-Since")
    return if_modified_since is not None and conditional.not_modified_since(
        if_modified_since, mtime
    )


def _bodiless(status: int, headers: dict[str, str]) -> Response:
    response = Response(b"", status=status)
    response.removeHeader("Content-Type")
    for header, value in headers.items():
        response.setHeader(header, value)
    return response


def _unsatisfiable(size: int, validators: dict[str, str]) -> Response:
    response = Response(b"Requested range not satisfiable\n", 416, content_type="text/plain")
    response.setHeader("Content-Range", f"bytes */{size}")
    response.setHeader("Accept-Ranges", "bytes")
    for header, value in validators.items():
        response.setHeader(header, value)
    return response


def serve_directory(directory: str, url_prefix: str) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of a directory registered with registerStaticFilesDirectory()
    (api/files.py)."""
    return StaticDirectory(directory, url_prefix).serve

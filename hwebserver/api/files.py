"""registerStaticFilesDirectory() and registerArchiveFile(): files the server serves itself,
with no Python handler.

Each is a prefix route of kind "static" with mount priority, so a URL handler registered for
the same or a longer path wins; it answers GET and HEAD on the event loop. What answers
(resolving paths, validators, ranges, sendfile, reading a zip) is the worker's
(`worker/files/`): api/ knows nothing of it, so `hwebserver/__init__.py` hands it in once, as
a `FileServing`, when the package is imported (`serve_files_with()`).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .request import Request
from .response import Response
from .routing import PRIORITY_MOUNT, Route, http_routes

# A registered directory's or archive's endpoint: what the route calls for each request.
FileEndpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class FileServing:
    """What makes the endpoint of a registered directory and of a registered archive, from
    the path and the URL prefix. `archive` raises ValueError for an archive it cannot read."""

    directory: Callable[[str, str], FileEndpoint]
    archive: Callable[[str, str], FileEndpoint]


_serving: list[FileServing] = []


def serve_files_with(serving: FileServing) -> None:
    """The worker's file serving, for every registration from now on (hwebserver/__init__.py)."""
    _serving[:] = [serving]


def file_serving() -> FileServing:
    if not _serving:
        raise RuntimeError("no file serving: import hwebserver, not hwebserver.api.files alone")
    return _serving[0]


def registerStaticFilesDirectory(
    directory: str | os.PathLike[str], url_prefix: str = "/static", port: str | int = -1
) -> None:
    """Serve the files under `directory` at `url_prefix`, with `Range`, conditional requests
    and `sendfile`. Paths that leave the directory (`..`, symlinks out) answer 404.

    Args:
        directory: the directory whose files are served.
        url_prefix: the URL prefix, starting with `/`.
        port: `-1` for every port, `0` or `"main"` for the main port, else a port name.

    Raises:
        ValueError: `url_prefix` does not start with `/`.

    Example:
        ```python
        hwebserver.registerStaticFilesDirectory("site/", url_prefix="/docs")
        ```
    """
    check_url_prefix(url_prefix)
    add_file_route(url_prefix, file_serving().directory(os.fspath(directory), url_prefix), port)


def registerArchiveFile(
    archive_file: str | os.PathLike[str], url_prefix: str = "/static", port: str | int = -1
) -> None:
    """Serve the files inside the zip archive `archive_file` under `url_prefix`, with the
    rules of `registerStaticFilesDirectory`.

    Args:
        archive_file: the zip archive.
        url_prefix: the URL prefix, starting with `/`.
        port: `-1` for every port, `0` or `"main"` for the main port, else a port name.

    Raises:
        ValueError: the archive is missing or unreadable (here, not as a 404 later), or
            `url_prefix` does not start with `/`.
    """
    check_url_prefix(url_prefix)
    add_file_route(url_prefix, file_serving().archive(os.fspath(archive_file), url_prefix), port)


def check_url_prefix(url_prefix: object) -> None:
    if not isinstance(url_prefix, str) or not url_prefix.startswith("/"):
        raise ValueError(f"url_prefix must start with '/', not {url_prefix!r}")


def add_file_route(url_prefix: str, serve: FileEndpoint, port: str | int) -> None:
    """A prefix route answering GET and HEAD from files (a directory's, an archive's): on the
    loop, below URL handlers of the same path."""
    route = Route(
        url_prefix,
        serve,
        is_prefix=True,
        methods=("GET", "HEAD"),
        kind="static",
        priority=PRIORITY_MOUNT,
        is_async=True,
    )
    http_routes.add(route, port)

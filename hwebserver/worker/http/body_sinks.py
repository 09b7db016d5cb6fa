"""Where the bytes of a request body go while they arrive: the body sink of a request.

The default sink keeps the body (in memory, spooled to disk when large). A form body bound
for a handler or an API function is parsed while it streams in, so a large upload is never
held in memory: its files go to the request's temp dir part by part. Mounted WSGI/ASGI apps
parse their own bodies and get the raw one. The protocol only calls append(), finish() and
close(); an HttpError from append() or finish() becomes the answer (400 for a bad form).
"""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING, BinaryIO, Protocol

from ...api.helpers import wants_json
from ...api.internal.body import BoundedBodyCopy, RequestBody
from ...api.internal.form_data import FormError, FormParser, FormTooLarge
from ...api.internal.forms import MULTIPART, form_kind, open_form_parser
from ...api.request import Request
from ...api.routing import PRIORITY_HANDLER
from .error_responses import HttpError

if TYPE_CHECKING:
    from ..common.state import WorkerState

log = logging.getLogger("hwebserver")


class BodySink(Protocol):
    size: int

    def append(self, data: bytes) -> None: ...

    def finish(self) -> None: ...

    def close(self) -> None: ...


def open_body_sink(state: WorkerState, request: Request, content_type: bytes | None) -> BodySink:
    """Called at the first body byte of a request (with its raw Content-Type, which the
    protocol noted while parsing the head); the sink decides what to keep."""
    kind = form_kind(content_type) if content_type is not None else None
    if kind is not None:
        route = state.router.match(request.conn.port_name, request.url_path)
        # Forms are parsed for handlers and API functions; a mounted app reads the raw body.
        if route is not None and (route.priority >= PRIORITY_HANDLER or route.kind == "api"):
            for_api = route.kind == "api"
            return FormBody(state, request, content_type.decode("latin-1"), kind, for_api)  # type: ignore[union-attr]
    body = RequestBody(state.spool_size, request.tempdir)
    request.body_source = body
    return body


# A body that cannot be stored for one of these may be stored a moment later: 503, not 507.
TEMPORARY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EAGAIN, errno.EINTR})
STORAGE_FAILED = "the server could not store the request body"


def storage_failure(request: Request, error: OSError) -> HttpError:
    """A body sink's OSError (a full disk or quota, no descriptor left, a read-only temp
    dir), whatever the kind of body: 507 Insufficient Storage, or 503 when the cause passes;
    one log line for the request, saying which and why."""
    status = 503 if error.errno in TEMPORARY_ERRNOS else 507
    log.error(
        "storing the body of %s %s failed (answered %d): %s",
        request.http_method,
        request.url_path,
        status,
        error,
    )
    return HttpError(status, STORAGE_FAILED, wants_json(request))


class FormBody:
    """The sink of a form body: feeds the streaming parser, keeps the raw body for body()
    (always for urlencoded, only while small for multipart: see Request.body()), and leaves
    the parsed form on the request when the body is complete."""

    __slots__ = ("_for_api", "_parser", "_raw", "_request", "size")

    def __init__(
        self, state: WorkerState, request: Request, content_type: str, kind: str, for_api: bool
    ) -> None:
        self.size = 0
        self._for_api = for_api  # the API answers errors in JSON; a handler's client chooses
        self._request = request
        self._raw: RequestBody | BoundedBodyCopy
        if kind == MULTIPART:
            self._raw = BoundedBodyCopy(state.spool_size)
        else:
            self._raw = RequestBody(state.spool_size, request.tempdir)
        request.body_source = self
        try:
            parser = open_form_parser(
                content_type,
                request.tempdir,
                state.config.max_in_memory_file_upload_size,
                kind,
                state.form_memory_size,
            )
        except FormError as exc:
            raise self._bad_form(exc) from None
        assert parser is not None
        self._parser: FormParser = parser

    def append(self, data: bytes) -> None:
        self.size += len(data)
        self._raw.append(data)
        try:
            self._parser.write(data)
        except FormError as exc:
            raise self._bad_form(exc) from None

    def finish(self) -> None:
        try:
            self._request.parsed_form = self._parser.finish()
        except FormError as exc:
            raise self._bad_form(exc) from None
        finally:
            self._parser.close()

    def close(self) -> None:
        self._parser.close()
        self._raw.close()

    def _bad_form(self, error: FormError) -> HttpError:
        as_json = self._for_api or wants_json(self._request)
        if isinstance(error, FormTooLarge):
            return HttpError(413, f"form too large: {error}", as_json)
        return HttpError(400, f"malformed form body: {error}", as_json)

    # -- what Request reads (BodySource) --------------------------------------------------
    def getvalue(self) -> bytes:
        return self._raw.getvalue()

    def open_reader(self) -> BinaryIO:
        return self._raw.open_reader()

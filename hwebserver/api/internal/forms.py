"""Form bodies: the fields and files of urlencoded and multipart requests.

The worker feeds a form parser while the body streams in (see worker/http/body_sinks.py)
and stores the result on the request; parse_form() is the fallback for a request whose body
was not parsed that way (e.g. one built outside the server). The parsed form and what the
parsers share live in form_data.py.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from python_multipart import QuerystringParser

from .body import BodySource
from .form_data import (
    DEFAULT_FORM_MEMORY,
    FIELD_OVERHEAD,
    FormData,
    FormMemory,
    FormParser,
    too_much_text,
)
from .run_arguments import DEFAULT_MAX_IN_MEMORY_UPLOAD
from .tempdir import RequestTempDir

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
READ_CHUNK = 256 * 1024
SMALL_BODY = 64 * 1024  # an urlencoded body up to this size is split when complete


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


_FORM_KINDS: dict[bytes, str | None] = {}


def form_kind(content_type: bytes) -> str | None:
    """URLENCODED or MULTIPART for a raw Content-Type of a form body, else None. Memoised by
    the raw value: a service sees the same few (multipart ones differ by boundary, so the
    memo is bounded)."""
    kind = _FORM_KINDS.get(content_type, "")
    if kind == "":
        kind = media_type(content_type.decode("latin-1"))
        if kind != URLENCODED and kind != MULTIPART:
            kind = None
        if len(_FORM_KINDS) < 256:
            _FORM_KINDS[content_type] = kind
    return kind


_PERCENT = ord("%")
_PLUS = ord("+")


def has_escapes(raw: bytes) -> bool:
    """Whether urlencoded bytes hold a '%XX' or a '+' to unquote."""
    # Membership of an int: `b"%" in raw` first tries the bytes as an integer and formats a
    # TypeError it then discards, which costs ten times more.
    return _PERCENT in raw or _PLUS in raw


def plain_pairs(text: str, into: dict[str, str]) -> dict[str, str]:
    """Urlencoded text with nothing to unquote, split as parse_qsl and python-multipart
    split it: pairs on '&', empty ones skipped, a name alone has an empty value, the last of
    a repeated name wins. ('&' and '=' are ASCII: splitting after decoding is the same.)"""
    for pair in text.split("&"):
        if pair:
            name, _, value = pair.partition("=")
            into[name] = value
    return into


def form_decode(raw: bytes) -> str:
    """One urlencoded name or value: '+' is a space, %XX a byte, the bytes UTF-8."""
    if not has_escapes(raw):
        return raw.decode("utf-8", "replace")
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "replace")


class UrlencodedFormParser:
    """application/x-www-form-urlencoded. A small body (the usual form post, one packet) is
    split in one go when it is complete; past SMALL_BODY bytes python-multipart takes over and
    each field is decoded as it completes, so the parser never buffers more than that."""

    __slots__ = (
        "_held",
        "_memory",
        "_memory_limit",
        "_name",
        "_parser",
        "_pending",
        "_pending_size",
        "_value",
        "form",
    )

    def __init__(self, memory_limit: int = DEFAULT_FORM_MEMORY) -> None:
        self.form = FormData()
        self._memory_limit = memory_limit  # a FormMemory only when a form could pass it
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._parser: QuerystringParser | None = None

    def write(self, data: bytes) -> None:
        if self._parser is None:
            self._pending.append(data)
            self._pending_size += len(data)
            if self._pending_size <= SMALL_BODY:
                return
            self._name: list[bytes] = []
            self._value: list[bytes] = []
            self._held = 0  # bytes of the field being received
            self._memory = FormMemory(self._memory_limit)
            self._parser = QuerystringParser(
                callbacks={
                    "on_field_name": self._on_name,
                    "on_field_data": self._on_value,
                    "on_field_end": self._on_field_end,
                }
            )
            data = b"".join(self._pending)
            self._pending = []
        self._parser.write(data)

    def finish(self) -> FormData:
        if self._parser is not None:
            self._parser.finalize()
            return self.form
        fields = self.form.fields
        body = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending = []
        # Each field needs at least its '&': this bounds the form's cost without counting it.
        may_exceed = len(body) * (FIELD_OVERHEAD + 1) > self._memory_limit
        if not has_escapes(body):  # decoded once, then split
            plain_pairs(body.decode("utf-8", "replace"), fields)
        else:
            for pair in body.split(b"&"):
                if pair:
                    name, _, value = pair.partition(b"=")
                    fields[form_decode(name)] = form_decode(value)
        if may_exceed:
            self._memory = FormMemory(self._memory_limit)
            for field_name, field_value in fields.items():
                self._memory.keep(field_name, FIELD_OVERHEAD + len(field_name) + len(field_value))
        return self.form

    def close(self) -> None:
        self._pending = []
        if self._parser is not None:
            self._name.clear()
            self._value.clear()

    def _on_name(self, data: bytes, start: int, end: int) -> None:
        self._hold(end - start)
        self._name.append(data[start:end])

    def _on_value(self, data: bytes, start: int, end: int) -> None:
        self._hold(end - start)
        self._value.append(data[start:end])

    def _hold(self, size: int) -> None:
        self._held += size
        if self._held > self._memory.left():
            raise too_much_text(self._memory.limit)

    def _on_field_end(self) -> None:
        name = form_decode(b"".join(self._name))
        value = form_decode(b"".join(self._value))
        self._memory.keep(name, FIELD_OVERHEAD + len(name) + len(value))
        self.form.fields[name] = value
        self._held = 0
        self._name.clear()
        self._value.clear()


def open_form_parser(
    content_type: str,
    tempdir: RequestTempDir,
    max_in_memory: int,
    kind: str | None = None,
    memory_limit: int = DEFAULT_FORM_MEMORY,
) -> FormParser | None:
    """A streaming parser for a form body, or None when the body is not a form. `kind` is
    the media type when the caller already knows it; `memory_limit` bounds what the whole
    form keeps in memory (a file of at most `max_in_memory` bytes stays there while it fits)."""
    if kind is None:
        kind = media_type(content_type)
    if kind == URLENCODED:
        return UrlencodedFormParser(memory_limit)
    if kind == MULTIPART:
        from .multipart import MultipartFormParser

        return MultipartFormParser(content_type, tempdir, max_in_memory, memory_limit)
    return None


def parse_form(
    body: BodySource | None,
    content_type: str,
    tempdir: RequestTempDir,
    max_in_memory: int = DEFAULT_MAX_IN_MEMORY_UPLOAD,
) -> FormData:
    """Parse the body of a request that was not parsed while it streamed in."""
    if body is None or body.size == 0:
        return FormData()  # no body, or an empty one: an empty form
    parser = open_form_parser(content_type, tempdir, max_in_memory)
    if parser is None:
        return FormData()
    try:
        with body.open_reader() as reader:
            while chunk := reader.read(READ_CHUNK):
                parser.write(chunk)
        return parser.finish()
    finally:
        parser.close()

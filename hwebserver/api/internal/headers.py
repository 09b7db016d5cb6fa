"""A dict of HTTP headers whose lookups ignore case, and the rules every response header obeys."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

_CANONICAL: dict[str, str] = {}  # name as written -> canonical, up to _MEMO_SIZE names
_CANONICAL_RAW: dict[bytes, str] = {}  # name as received -> canonical
_MEMO_SIZE = 1024


def _canonical(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def canonical_name(name: str) -> str:
    """'content-type' -> 'Content-Type': one spelling per header so lookups can ignore case.
    Memoised in a plain dict: cheaper than lru_cache on a path every header lookup takes."""
    known = _CANONICAL.get(name)
    if known is None:
        known = _canonical(name)
        if len(_CANONICAL) < _MEMO_SIZE:
            _CANONICAL[name] = known
    return known


def _canonical_raw(raw_name: bytes) -> str:
    known = _CANONICAL_RAW.get(raw_name)
    if known is None:
        known = canonical_name(raw_name.decode("latin-1"))
        if len(_CANONICAL_RAW) < _MEMO_SIZE:
            _CANONICAL_RAW[raw_name] = known
    return known


class Headers(dict[str, str]):
    """A real dict (JSON-serialisable, printable) keyed by canonical names; lookups ignore case."""

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, canonical_name(name))

    def __setitem__(self, name: str, value: str) -> None:
        dict.__setitem__(self, canonical_name(name), value)

    def __delitem__(self, name: str) -> None:
        dict.__delitem__(self, canonical_name(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, canonical_name(name))

    def get(self, name: str, default: Any = None) -> Any:
        return dict.get(self, canonical_name(name), default)

    def pop(self, name: str, *default: Any) -> Any:
        return dict.pop(self, canonical_name(name), *default)

    def copy(self) -> Headers:
        return Headers(self)


def headers_from_raw(raw: list[tuple[bytes, bytes]]) -> Headers:
    """Build Headers from the parser's byte pairs; repeated names are joined with ', '."""
    fields: dict[str, str] = {}
    repeated: dict[str, list[str]] | None = None
    for raw_name, raw_value in raw:
        name = _CANONICAL_RAW.get(raw_name) or _canonical_raw(raw_name)
        value = raw_value.decode("latin-1")
        if name not in fields:
            fields[name] = value
        else:  # joined once at the end: appending to the string each time is quadratic
            if repeated is None:
                repeated = {}
            repeated.setdefault(name, [fields[name]]).append(value)
    if repeated is not None:
        for name, values in repeated.items():
            fields[name] = ", ".join(values)
    return Headers(fields)  # a plain copy: the keys are canonical already


# -- what a response header may hold (RFC 9110 5.1, 5.5) ---------------------------------------
# A name is a token; a value holds no control character but horizontal tab (so no CR or LF
# that would end the line, or the head, early). Bytes from 0x80 up (obs-text) are allowed.
_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_CONTROL = r"\x00-\x08\x0a-\x1f\x7f"
_TOKEN = re.compile(f"[{_TCHAR}]+")
_FORBIDDEN_IN_VALUE = re.compile(f"[{_CONTROL}]")
_TOKEN_BYTES = re.compile(f"[{_TCHAR}]+".encode("ascii"))
# A block of header lines as worker/apps/response_framing.py builds them: `name: value CRLF`, each name a token.
_HEADER_LINES_BYTES = re.compile(f"(?:[{_TCHAR}]+: [^{_CONTROL}]*\\r\\n)*".encode("ascii"))

_GOOD_NAMES: set[str] = set()  # names already checked: a service sets the same few
_GOOD_NAMES_BYTES: set[bytes] = set()


def check_header(name: str, value: str) -> None:
    """The one gate of every header a Response carries: ValueError for a name that is not a
    token or a value with a control character (CR and LF included) other than tab."""
    if name not in _GOOD_NAMES:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}: it must be an RFC 9110 token")
        if len(_GOOD_NAMES) < _MEMO_SIZE:
            _GOOD_NAMES.add(name)
    check_header_value(name, value)


def check_header_value(name: str, value: str) -> None:
    # Control characters are never printable: most values pass the C loop of isprintable()
    # alone, twice as fast as the regex, which decides for the rest (tabs, U+2028, ...).
    if not value.isprintable() and _FORBIDDEN_IN_VALUE.search(value) is not None:
        raise ValueError(
            f"header {name!r}: invalid value {_shown(value)}: no control characters but tab "
            "(CR, LF, NUL, ...) are allowed"
        )


def check_header_block(headers: Sequence[Sequence[bytes]], block: bytes, lines: int) -> None:
    """The bytes form of the same rules, for the raw headers of a WSGI or ASGI app: every name
    in `headers` is a token, and `block`, the `lines` lines `name: value CRLF` framed from
    them, has no control character in a value."""
    for name, _ in headers:
        if name not in _GOOD_NAMES_BYTES:
            if not isinstance(name, bytes) or not _TOKEN_BYTES.fullmatch(name):
                raise ValueError(f"invalid header name {name!r}: it must be an RFC 9110 token")
            if len(_GOOD_NAMES_BYTES) < _MEMO_SIZE:
                _GOOD_NAMES_BYTES.add(name)
    # A value cannot hold CR or LF, so each LF ends one of the lines: one per line framed, or
    # a value smuggled a line of its own in.
    if _HEADER_LINES_BYTES.fullmatch(block) is None or block.count(b"\n") != lines:
        raise ValueError(
            f"a response header contains a control character (CR, LF, NUL, ...): {_shown(block)}"
        )


def _shown(value: str | bytes) -> str:
    """A value in an error message: enough to recognise it, never a megabyte of it."""
    return repr(value) if len(value) <= 200 else repr(value[:200]) + "..."

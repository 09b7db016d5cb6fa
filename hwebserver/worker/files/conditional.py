"""Validators and ranges of a file (RFC 9110 sections 8.8, 13 and 14), as pure functions."""

from __future__ import annotations

import email.utils
import os
from datetime import datetime
from functools import lru_cache

UNSATISFIABLE = (-1, -1)
# Longer than any HTTP date (29 characters, 30-odd in the obsolete formats): not parsed at all.
_MAX_DATE_LENGTH = 64
# A byte position of more digits is past the end of any file (and int() of thousands of
# digits raises ValueError, or spends quadratic time where no limit is set).
_MAX_POSITION_DIGITS = 18
_BEYOND_ANY_FILE = 10**_MAX_POSITION_DIGITS


def file_etag(stat: os.stat_result) -> str:
    """A strong validator from modification time and size, as nginx derives its own."""
    return f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'


@lru_cache(maxsize=1024)
def _http_date_of_second(second: int) -> str:
    return email.utils.formatdate(second, usegmt=True)


def http_date(timestamp: float) -> str:
    """An HTTP date (whole seconds); files share few distinct mtimes, so they are cached."""
    return _http_date_of_second(int(timestamp))


def parse_http_date(value: str) -> int | None:
    """Seconds since the epoch, or None for a value that is not an HTTP date."""
    if len(value) > _MAX_DATE_LENGTH:
        return None
    try:
        parsed: datetime | None = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):  # e.g. a zone of +99999999999
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return int(parsed.timestamp())


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def none_match(header: str, etag: str) -> bool:
    """If-None-Match matches (weak comparison): the client's copy is current."""
    if header.strip() == "*":
        return True
    current = _opaque(etag)
    return any(_opaque(tag) == current for tag in header.split(","))


def not_modified_since(header: str, mtime: float) -> bool:
    """If-Modified-Since: the file has not changed since that date (whole seconds)."""
    since = parse_http_date(header)
    return since is not None and int(mtime) <= since


def if_range_holds(header: str | None, etag: str, mtime: float) -> bool:
    """If-Range: a strong ETag equal to ours, or exactly our Last-Modified; absent holds."""
    if header is None:
        return True
    header = header.strip()
    if header.startswith('"') or header.startswith("W/"):
        return header == etag
    since = parse_http_date(header)
    return since is not None and since == int(mtime)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One byte range as (first, last) inclusive, UNSATISFIABLE, or None to send it all.

    None covers a unit other than bytes, a malformed value and several ranges (which
    RFC 9110 lets a server answer with the whole file).
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    first_text, last_text = first_text.strip(), last_text.strip()
    if not dash or not (first_text or last_text):
        return None
    if not all(text.isdigit() and text.isascii() for text in (first_text, last_text) if text):
        return None
    if not first_text:  # suffix: the last N bytes
        suffix = _position(last_text)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - suffix), size - 1
    first = _position(first_text)
    if last_text and _position(last_text) < first:
        return None  # not a valid range: ignored
    if first >= size:
        return UNSATISFIABLE
    last = _position(last_text) if last_text else size - 1
    return first, min(last, size - 1)


def _position(digits: str) -> int:
    """A byte position or count from ASCII digits; any number too long to be a file offset
    stands for one beyond every file, which is what it means."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_POSITION_DIGITS else _BEYOND_ANY_FILE

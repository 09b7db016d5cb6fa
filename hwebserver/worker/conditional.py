"""Validators and ranges of a file (RFC 9110 sections 8.8, 13 and 14), as pure functions."""

from __future__ import annotations

import email.utils
import os
from datetime import datetime
from functools import lru_cache

UNSATISFIABLE = (-1, -1)


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
    try:
        parsed: datetime | None = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
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
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - suffix), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # not a valid range: ignored
    if first >= size:
        return UNSATISFIABLE
    last = int(last_text) if last_text else size - 1
    return first, min(last, size - 1)

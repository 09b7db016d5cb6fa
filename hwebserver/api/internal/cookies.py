"""Parsing the Cookie request header and formatting Set-Cookie values."""

from __future__ import annotations

import datetime
import email.utils
import re
from typing import SupportsInt
from urllib.parse import quote, unquote

_SAMESITE_VALUES = {"strict": "Strict", "lax": "Lax", "none": "None"}
# A cookie name is an RFC 6265 token: visible ASCII but the separators.
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ATTRIBUTE_FORBIDDEN = re.compile("[\r\n\0;]")


# What format_set_cookie leaves unencoded in a value: RFC 6265 cookie-octets, less '%' so
# that every value survives the round trip through parse_cookie_header's percent-decoding.
_VALUE_SAFE = "!#$&'()*+-./:<=>?@[]^_`{|}~"


def parse_cookie_header(header: str, into: dict[str, str] | None = None) -> dict[str, str]:
    """Lenient: a malformed pair is skipped rather than losing every cookie of the header.

    Values are percent-decoded (decided), the inverse of Response.setCookie's encoding. Browsers
    send the cookie with the most specific path first, so the first of a repeated name wins.
    """
    cookies: dict[str, str] = {} if into is None else into
    for pair in header.split(";"):
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name or name in cookies:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = unquote(value, errors="replace") if "%" in value else value
    return cookies


def _format_expires(expires: object) -> str:
    if isinstance(expires, datetime.datetime):
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=datetime.UTC)
        return email.utils.format_datetime(expires.astimezone(datetime.UTC), usegmt=True)
    if isinstance(expires, (int, float)):
        return email.utils.formatdate(float(expires), usegmt=True)
    return str(expires)


def _max_age_seconds(max_age: object) -> int:
    if isinstance(max_age, datetime.timedelta):
        return int(max_age.total_seconds())
    if isinstance(max_age, (str, SupportsInt)):
        return int(max_age)
    raise TypeError(f"max_age: seconds or a timedelta, not {type(max_age).__name__}")


def format_set_cookie(
    name: str,
    value: str,
    max_age: int | None = None,
    expires: object = None,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = False,
    samesite: str | None = None,
) -> str:
    """One Set-Cookie header value; the value is percent-encoded where RFC 6265 forbids a byte."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid cookie name {name!r}")
    expires_text = None if expires is None else _format_expires(expires)
    for attribute in (path, domain, expires_text):
        if attribute and _ATTRIBUTE_FORBIDDEN.search(attribute):
            raise ValueError(f"cookie attribute {attribute!r} may not contain CR, LF, NUL or ';'")
    parts = [f"{name}={quote(str(value), safe=_VALUE_SAFE)}"]
    if max_age is not None:
        parts.append(f"Max-Age={_max_age_seconds(max_age)}")
    if expires_text is not None:
        parts.append(f"Expires={expires_text}")
    if path:
        parts.append(f"Path={path}")
    if domain:
        parts.append(f"Domain={domain}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite is not None:
        canonical = _SAMESITE_VALUES.get(str(samesite).lower())
        if canonical is None:
            raise ValueError(f"samesite must be 'Strict', 'Lax' or 'None', not {samesite!r}")
        parts.append(f"SameSite={canonical}")
    return "; ".join(parts)

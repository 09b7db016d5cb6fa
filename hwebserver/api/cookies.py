"""Parsing the Cookie request header and formatting Set-Cookie values."""

from __future__ import annotations

import datetime
import email.utils
from urllib.parse import quote

_SAMESITE_VALUES = {"strict": "Strict", "lax": "Lax", "none": "None"}
# Characters a cookie name may not hold (RFC 6265 token): separators, controls, spaces.
_NAME_FORBIDDEN = set('()<>@,;:\\"/[]?={} \t\r\n')


def parse_cookie_header(header: str) -> dict[str, str]:
    """Lenient: a malformed pair is skipped rather than losing every cookie of the header."""
    cookies: dict[str, str] = {}
    for pair in header.split(";"):
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
    return cookies


def _format_expires(expires: object) -> str:
    if isinstance(expires, datetime.datetime):
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=datetime.timezone.utc)
        return email.utils.format_datetime(expires.astimezone(datetime.timezone.utc), usegmt=True)
    if isinstance(expires, (int, float)):
        return email.utils.formatdate(float(expires), usegmt=True)
    return str(expires)


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
    if not name or any(ch in _NAME_FORBIDDEN or ord(ch) < 32 for ch in name):
        raise ValueError(f"invalid cookie name {name!r}")
    parts = [f"{name}={quote(str(value), safe='!#$%&()*+-./:<=>?@[]^_`{|}~')}"]
    if max_age is not None:
        parts.append(f"Max-Age={int(max_age)}")
    if expires is not None:
        parts.append(f"Expires={_format_expires(expires)}")
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
    for attribute in (path, domain):
        if attribute and any(ch in attribute for ch in "\r\n;"):
            raise ValueError(f"cookie attribute {attribute!r} may not contain CR, LF or ';'")
    return "; ".join(parts)

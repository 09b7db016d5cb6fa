"""The request head, as the connection reads it: which header fields it must act on, the
request target decoded, a Host checked, the trailer fields it drops. Tables and memos shared
by every connection of the worker; HttpProtocol reads the memos inline (one dict probe)."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

# Headers the server itself must act on, by lower-case name. Every kind but Host marks the
# message unusual: it takes the full checks and the full reset (HttpProtocol._reset_message).
HOST = 1
CONTENT_LENGTH = 2
TRANSFER_ENCODING = 3
EXPECT = 4
UPGRADE = 5
CONNECTION = 6
CONTENT_TYPE = 7
_SPECIAL_HEADERS = {
    b"host": HOST,
    b"content-length": CONTENT_LENGTH,
    b"transfer-encoding": TRANSFER_ENCODING,
    b"expect": EXPECT,
    b"upgrade": UPGRADE,
    b"connection": CONNECTION,
    b"proxy-connection": CONNECTION,  # llhttp honours it as Connection
    b"content-type": CONTENT_TYPE,  # decides where a body goes (worker/http/body_sinks.py)
}
# Fields that may appear once (RFC 9110 §5.3: their grammar is not a list, so two lines
# cannot be joined into one value), each its own bit from SINGLETON_BIT up: a request with two
# different values is refused (400) rather than handed on as "a, b", which means neither.
# Host and Content-Length have their own, stricter checks (any repeat is refused).
# Content-Type is both a kind above and a singleton (CONTENT_TYPE_BIT).
SINGLETON_BIT = 1 << 4
_SINGLETON_NAMES = (
    b"content-type",
    b"authorization",
    b"proxy-authorization",
    b"origin",
    b"referer",
    b"range",
    b"if-range",
    b"if-modified-since",
    b"if-unmodified-since",
    b"max-forwards",
    b"from",
    b"date",
)
SINGLETON_FIELDS = {name: SINGLETON_BIT << index for index, name in enumerate(_SINGLETON_NAMES)}
CONTENT_TYPE_BIT = SINGLETON_FIELDS[b"content-type"]
for _name, _bit in SINGLETON_FIELDS.items():
    _SPECIAL_HEADERS.setdefault(_name, _bit)
# The kind of each header name as clients spell it, so no name is lower-cased twice.
HEADER_KINDS: dict[bytes, int] = {}
_HEADER_KINDS_SIZE = 512


def header_kind(name: bytes) -> int:
    kind = _SPECIAL_HEADERS.get(name.lower(), 0)
    if len(HEADER_KINDS) < _HEADER_KINDS_SIZE:  # a few dozen spellings in practice
        HEADER_KINDS[name] = kind
    return kind


METHODS: dict[bytes, str] = {}

TARGET_CACHE: dict[bytes, tuple[str, bytes]] = {}
_TARGET_CACHE_SIZE = 1024


def repeated_singletons(
    raw_headers: list[tuple[bytes, bytes]], repeated: int
) -> tuple[str | None, list[tuple[bytes, bytes]]]:
    """For a head in which the singleton fields of the bits `repeated` appear more than once:
    (the name of one that has two different values, or None; the head with identical repeats
    dropped, so that nobody reads "a, a" for one value)."""
    first: dict[bytes, bytes] = {}
    kept: list[tuple[bytes, bytes]] = []
    for name, value in raw_headers:
        lowered = name.lower()
        if SINGLETON_FIELDS.get(lowered, 0) & repeated:
            value = value.strip(b" \t")
            if lowered in first:
                if first[lowered] != value:
                    return name.decode("latin-1"), raw_headers
                continue  # an identical repeat
            first[lowered] = value
        kept.append((name, value))
    return None, kept


def decode_target(target: bytes) -> tuple[str, bytes]:
    """Memoised: services see the same few targets over and over."""
    decoded = TARGET_CACHE.get(target)
    if decoded is None:
        decoded = decode_target_uncached(target)
        if len(TARGET_CACHE) >= _TARGET_CACHE_SIZE:
            TARGET_CACHE.clear()
        TARGET_CACHE[target] = decoded
    return decoded


# RFC 9112 §3.2 and RFC 3986 §3.2.2: a Host is a host name, an IPv4 address or a bracketed IPv6
# literal, then an optional port. Stricter than reg-name on one point: a comma (two Hosts joined
# into one line by a proxy) is refused too. No userinfo, space, slash or '@'.
_HOST_SYNTAX = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+;=]*)(?::[0-9]*)?")
_VALID_HOSTS: dict[bytes, bool] = {}
_VALID_HOSTS_SIZE = 256


def is_valid_host(value: bytes) -> bool:
    """Memoised: a service sees the same few Host values."""
    if value in _VALID_HOSTS:
        return True
    if _HOST_SYNTAX.fullmatch(value) is None:
        return False
    if len(_VALID_HOSTS) < _VALID_HOSTS_SIZE:
        _VALID_HOSTS[value] = True
    return True


# Trailer fields that must never be taken from a trailer section (RFC 9110 §6.5.1): framing,
# routing, authentication, request modifiers and what the server itself acts on. The others are
# kept apart from the headers (request.trailers()); these are dropped.
FORBIDDEN_TRAILERS = frozenset(
    (
        b"authorization",
        b"cache-control",
        b"connection",
        b"content-encoding",
        b"content-length",
        b"content-range",
        b"content-type",
        b"cookie",
        b"expect",
        b"host",
        b"if-match",
        b"if-modified-since",
        b"if-none-match",
        b"if-range",
        b"if-unmodified-since",
        b"keep-alive",
        b"max-forwards",
        b"pragma",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"range",
        b"set-cookie",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"www-authenticate",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
    )
)

# Methods a service may answer; what `OPTIONS *` advertises (a handler may restrict its own).
SERVER_ALLOW = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


class TargetAboveRoot(ValueError):
    """A request target whose '..' segments climb above the root (answered 400)."""


def decode_target_uncached(target: bytes) -> tuple[str, bytes]:
    """(percent-decoded and normalised path, raw query) of a request target (origin or
    absolute form); TargetAboveRoot for a path that climbs above the root."""
    raw_path, _, query = target.partition(b"?")
    raw_path = raw_path.partition(b"#")[0]
    if not raw_path.startswith(b"/"):
        if b"://" in raw_path:  # absolute form: http://host/path
            raw_path = b"/" + raw_path.split(b"://", 1)[1].partition(b"/")[2]
        elif raw_path == b"*":
            return "*", query
    path = raw_path.decode("utf-8", "replace")
    if "%" in path:
        path = unquote(path, errors="replace")
    return normalized_path(path), query


def normalized_path(path: str) -> str:
    """A decoded path as routing and mounted apps see it: RFC 3986 §5.2.4 dot segments
    removed and repeated slashes merged (as nginx does). The path is decoded first, every
    escape included, so '%2e' is a dot and '%2f' a slash here: what an app that decodes the
    path would see is what the router matched. A trailing slash stays ('/a/.' -> '/a/').
    TargetAboveRoot when a '..' would climb above '/'."""
    if "/." not in path and "//" not in path:
        return path  # nearly every path: nothing to remove
    segments = path.split("/")
    kept: list[str] = []
    for segment in segments[1:-1]:
        if segment == "..":
            if not kept:
                raise TargetAboveRoot(f"the path {path!r} climbs above the root")
            kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    last = segments[-1]
    if last == "..":
        if not kept:
            raise TargetAboveRoot(f"the path {path!r} climbs above the root")
        kept.pop()
        last = ""
    elif last == ".":
        last = ""
    kept.append(last)
    return "/" + "/".join(kept)


def normalized_raw_path(raw_path: bytes, path: str) -> bytes:
    """The raw path an app is given beside the normalised `path` (ASGI's raw_path), from the
    target's path as sent: as sent (less a fragment) when it decodes to `path`, else `path`
    percent-encoded again, so that an app routing on the raw path sees what the router
    matched."""
    raw_path = raw_path.partition(b"#")[0]
    if unquote(raw_path.decode("utf-8", "replace"), errors="replace") == path:
        return raw_path
    return quote(path, safe="/!$&'()*+,;=:@~").encode("ascii")

"""A dict of HTTP headers whose lookups ignore case."""

from __future__ import annotations

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

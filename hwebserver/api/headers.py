"""A dict of HTTP headers whose lookups ignore case."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1024)
def canonical_name(name: str) -> str:
    """'content-type' -> 'Content-Type': one spelling per header so lookups can ignore case."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


class Headers(dict[str, str]):
    """A real dict (JSON-serialisable, printable) keyed by canonical names; lookups ignore case."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(canonical_name(name))

    def __setitem__(self, name: str, value: str) -> None:
        super().__setitem__(canonical_name(name), value)

    def __delitem__(self, name: str) -> None:
        super().__delitem__(canonical_name(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(canonical_name(name))

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(canonical_name(name), default)

    def pop(self, name: str, *default: Any) -> Any:
        return super().pop(canonical_name(name), *default)

    def copy(self) -> Headers:
        return Headers(self)


def headers_from_raw(raw: list[tuple[bytes, bytes]]) -> Headers:
    """Build Headers from the parser's byte pairs; repeated names are joined with ', '."""
    headers = Headers()
    for raw_name, raw_value in raw:
        name = canonical_name(raw_name.decode("latin-1"))
        value = raw_value.decode("latin-1")
        previous = dict.get(headers, name)
        dict.__setitem__(headers, name, value if previous is None else previous + ", " + value)
    return headers

"""Mapping a request target onto a file inside a served directory, or refusing to.

The path is taken from the raw target, segment by segment, so that an encoded slash or
backslash cannot pass for a separator after decoding. Refused (the caller answers 404):
'.' and '..' segments (also when percent-encoded), empty segments (so a trailing slash,
i.e. a directory, never names a file), a segment with '/', '\\' or NUL once decoded, and a
path whose symlinks resolve outside the directory.
"""

from __future__ import annotations

import os
import stat
from urllib.parse import unquote_to_bytes

from ..common.targets import request_path_bytes

_FORBIDDEN_IN_SEGMENT = (b"/", b"\\", b"\0")


def relative_segments(target: bytes, prefix_segments: tuple[bytes, ...]) -> list[str] | None:
    """The decoded segments after the prefix, or None when the target is not acceptable."""
    raw = request_path_bytes(target)
    if raw is None:
        return None
    decoded = [unquote_to_bytes(segment) for segment in raw.split(b"/")[1:]]
    count = len(prefix_segments)
    if tuple(decoded[:count]) != prefix_segments:
        return None
    rest = decoded[count:]
    if not rest:
        return None  # the prefix itself: a directory
    for segment in rest:
        if segment in (b"", b".", b".."):
            return None
        if any(forbidden in segment for forbidden in _FORBIDDEN_IN_SEGMENT):
            return None
    return [os.fsdecode(segment) for segment in rest]


def prefix_segments(url_prefix: str) -> tuple[bytes, ...]:
    """'/static/' -> (b'static',); '/' -> ()."""
    return tuple(segment.encode("utf-8") for segment in url_prefix.strip("/").split("/") if segment)


def resolve_inside(root: str, segments: list[str]) -> str | None:
    """The real path of root/segments when it stays inside `root` (a real path), else None.

    Only the segments below the root are examined (one lstat each); a symlink among them
    sends the rest of the path through realpath(), and the result must still be inside.
    """
    path = root.rstrip(os.sep) or os.sep
    for index, segment in enumerate(segments):
        if segment in ("", ".", "..") or os.sep in segment:
            return None  # relative_segments() refuses these already; never rely on one check
        candidate = os.path.join(path, segment)
        try:
            mode = os.lstat(candidate).st_mode
        except (OSError, ValueError):
            return None
        if stat.S_ISLNK(mode):
            real = os.path.realpath(os.path.join(candidate, *segments[index + 1 :]))
            inside = root if root.endswith(os.sep) else root + os.sep
            return real if real.startswith(inside) else None
        path = candidate
    return path

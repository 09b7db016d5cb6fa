"""Request targets as raw bytes, shared by the parts that map a target themselves (the HTTPS
redirect in policies/, static files and archives in files/)."""

from __future__ import annotations


def request_path_bytes(target: bytes) -> bytes | None:
    """The path part of an origin-form or absolute-form target, still percent-encoded."""
    path = target.partition(b"?")[0].partition(b"#")[0]
    if path.startswith(b"/"):
        return path
    if b"://" in path:  # absolute form: http://host/path
        return b"/" + path.split(b"://", 1)[1].partition(b"/")[2]
    return None

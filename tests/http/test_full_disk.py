"""A body the server cannot store (its temp dir on a full filesystem) is answered 507
Insufficient Storage with one message and one log line per request, whatever the kind of
body, and leaves nothing behind; the server serves on once there is room again.

The temp dir is a small tmpfs, filled up (needs root to mount; skipped otherwise)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from support import ServerProcess, wait_for

SPOOL = 64 * 1024  # a body larger than this goes to disk
BODY = 3 * 1024 * 1024  # larger than the whole filesystem
MESSAGE = "the server could not store the request body"


@pytest.fixture
def full_tmp(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """A file taking every free block."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as file, contextlib.suppress(OSError):
        while True:
            file.write(b"\0" * 4096)
    return filler


def left_behind(directory: Path, filler: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path != filler]


def test_a_body_that_cannot_be_stored_is_507_for_every_kind_of_body(tmp_path, full_tmp):
    settings = {"BODY_SPOOL_SIZE": SPOOL}
    kwargs = {"max_in_memory_file_upload_size": SPOOL, "settings": settings}
    with ServerProcess("forms_app.py", tmp_path, kwargs, server_tmp=full_tmp) as srv:
        worker = psutil.Process(int(httpx.get(srv.url("/pid")).text))
        fds = worker.num_fds()
        filler = fill(full_tmp)
        payload = os.urandom(BODY)
        attempts = {
            "raw": {"content": payload, "headers": {"Content-Type": "application/octet-stream"}},
            "urlencoded": {"data": {"field": "x" * BODY}},
            "multipart": {"files": {"f": ("f.bin", payload)}},
        }
        for kind, request in attempts.items():
            response = httpx.post(srv.url("/form/body"), timeout=30, **request)
            assert (response.status_code, kind) == (507, kind), response.text
            assert MESSAGE in response.text
        logs = wait_for(lambda: srv.logs().count("(answered 507)") >= 3 and srv.logs())
        assert logs.count("storing the body of POST /form/body failed (answered 507)") == 3
        assert "No space left on device" in logs
        wait_for(lambda: not left_behind(full_tmp, filler), timeout=15)
        wait_for(lambda: worker.num_fds() <= fds)  # no spool file left open either
        filler.unlink()  # room again: the same server stores a spooled body
        fits = payload[: 8 * SPOOL]
        response = httpx.post(srv.url("/form/body"), content=fits, timeout=30)
        assert response.status_code == 200 and response.content == fits

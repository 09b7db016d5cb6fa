"""Bodies and uploads are written through the descriptor that created their temp file.

Opening the file again by name would truncate it (mode "wb"), and ext4 answers the close() of
a truncated file by writing all of it to disk before close() returns: for a 1 GiB upload the
worker's event loop stood still 0.4 s at the end of the upload, every other connection of the
worker with it (ext4's auto_da_alloc; the big-body bench row showed it as iowait). The app's
audit hook sees every open of the worker, with its flags.
"""

from __future__ import annotations

import os

import httpx
import pytest
from support import ServerProcess

SPOOL = 4096
IN_MEMORY = 4096


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    root = tmp_path_factory.mktemp("spool-files")
    kwargs = {"max_in_memory_file_upload_size": IN_MEMORY, "settings": {"BODY_SPOOL_SIZE": SPOOL}}
    with ServerProcess("spool_files_app.py", root, kwargs, server_tmp=root / "tmp") as process:
        yield process


def truncating_opens(srv) -> list[str]:
    return httpx.get(srv.url("/truncating-opens")).json()


def test_an_upload_past_the_memory_limit_is_written_without_reopening(srv):
    before = truncating_opens(srv)
    data = os.urandom(IN_MEMORY * 64)
    answer = httpx.post(srv.url("/upload"), files={"f": ("f.bin", data)})
    assert answer.json() == {"f": len(data)}
    assert truncating_opens(srv) == before


def test_an_upload_saved_to_disk_from_memory_is_written_without_reopening(srv):
    before = truncating_opens(srv)
    data = os.urandom(IN_MEMORY // 4)
    answer = httpx.post(srv.url("/upload"), files={"small": ("s.bin", data)})
    assert answer.json() == {"small": len(data)}
    assert truncating_opens(srv) == before


def test_a_raw_body_spooled_to_disk_is_written_without_reopening(srv):
    before = truncating_opens(srv)
    data = os.urandom(SPOOL * 64)
    answer = httpx.post(srv.url("/raw"), content=data)
    assert answer.text == str(len(data))
    assert truncating_opens(srv) == before

"""FORM_MEMORY_SIZE: what one form keeps in memory is bounded, however many parts it has."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from multipart_bodies import BOUNDARY, CONTENT_TYPE, body, field_part, file_part
from support import ServerProcess, wait_for

KiB = 1024
PER_FILE = 32 * KiB  # max_in_memory_file_upload_size
FORM_MEMORY = 50 * KiB


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    root = tmp_path_factory.mktemp("form-memory")
    run_kwargs = {
        "max_in_memory_file_upload_size": PER_FILE,
        "settings": {"FORM_MEMORY_SIZE": FORM_MEMORY},
    }
    with ServerProcess("forms_app.py", root, run_kwargs, server_tmp=root / "server-tmp") as process:
        yield process


def leftovers(srv) -> list[Path]:
    try:
        return list(srv.server_tmp.rglob("*"))
    except FileNotFoundError:  # the server removed a directory while it was being listed
        return [srv.server_tmp / "(changing)"]


def post(srv, payload: bytes, content_type: str = CONTENT_TYPE) -> httpx.Response:
    return httpx.post(srv.url("/form"), content=payload, headers={"Content-Type": content_type})


def test_files_past_the_budget_go_to_disk_however_small(srv):
    contents = {f"f{i}": os.urandom(20 * KiB) for i in range(5)}
    payload = body(*(file_part(name, f"{name}.bin", data) for name, data in contents.items()))
    response = post(srv, payload)
    assert response.status_code == 200
    files = response.json()["files"]
    # 20 KiB each: two fit in the 50 KiB budget, the other three are written to disk.
    assert [files[name]["in_memory"] for name in contents] == [True, True, False, False, False]
    for name, data in contents.items():
        assert files[name]["size"] == len(data)
    wait_for(lambda: not leftovers(srv))  # removed once the response is sent


def test_multipart_text_past_the_budget_is_413(srv):
    payload = body(field_part("a", "x" * (30 * KiB)), field_part("b", "y" * (30 * KiB)))
    response = post(srv, payload)
    assert response.status_code == 413
    assert "form too large" in response.text
    wait_for(lambda: not leftovers(srv))  # removed once the response is sent


def test_memory_files_count_against_text(srv):
    payload = body(file_part("f", "f.bin", os.urandom(30 * KiB)), field_part("t", "z" * (25 * KiB)))
    assert post(srv, payload).status_code == 413


@pytest.mark.parametrize("size", [60 * KiB, 200 * KiB], ids=["split at once", "streamed"])
def test_urlencoded_text_past_the_budget_is_413(srv, size):
    payload = b"a=" + b"v" * size
    response = post(srv, payload, "application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert "form too large" in response.text
    wait_for(lambda: not leftovers(srv))  # removed once the response is sent


def test_forms_within_the_budget_are_unchanged(srv):
    payload = body(field_part("a", "x" * (20 * KiB)), file_part("f", "f.bin", b"data"))
    response = post(srv, payload)
    assert response.status_code == 200
    result = response.json()
    assert result["fields"] == {"a": "x" * (20 * KiB)}
    assert result["files"]["f"]["in_memory"] is True
    urlencoded = post(srv, b"a=1&b=" + b"w" * (40 * KiB), "application/x-www-form-urlencoded")
    assert urlencoded.json()["fields"]["b"] == "w" * (40 * KiB)


@pytest.mark.parametrize("kind", ["multipart", "urlencoded"])
def test_many_small_fields_count_too(srv, kind):
    # 2,000 fields with long names and empty values: each costs memory beyond its bytes.
    names = [f"{i:04d}" + "n" * 60 for i in range(2000)]
    if kind == "multipart":
        response = post(srv, body(*(field_part(name, "") for name in names)))
    else:
        payload = "&".join(f"{name}=" for name in names).encode()
        response = post(srv, payload, "application/x-www-form-urlencoded")
    assert response.status_code == 413
    wait_for(lambda: not leftovers(srv))


def test_a_repeated_name_costs_only_its_last_value(srv):
    payload = body(*(field_part("a", str(i) * (20 * KiB)) for i in range(3)))
    response = post(srv, payload)
    assert response.status_code == 200
    assert response.json()["fields"] == {"a": "2" * (20 * KiB)}
    files = body(*(file_part("f", "f.bin", bytes([i]) * (20 * KiB)) for i in range(3)))
    response = post(srv, files)
    assert response.status_code == 200
    assert response.json()["files"]["f"]["in_memory"] is True


def test_huge_part_headers_are_refused(srv):
    part = (
        b"--" + BOUNDARY.encode() + b'\r\nContent-Disposition: form-data; name="a"\r\n'
        b"X-Padding: " + b"p" * (64 * KiB) + b"\r\n\r\nvalue\r\n"
    )
    response = post(srv, part + b"--" + BOUNDARY.encode() + b"--\r\n")
    assert response.status_code == 400
    assert "header" in response.text.lower()

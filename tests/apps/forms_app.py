"""A service that reports what the server parsed from form bodies, uploads and cookies."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import os
import tempfile

from harness import serve

import hwebserver


def describe_upload(upload: hwebserver.UploadedFile, chunk: int) -> dict:
    path = upload.temporaryFilePath()
    info = {
        "name": upload.name(),
        "size": upload.size(),
        "content_type": upload.contentType(),
        "in_memory": upload.isInMemory(),
        "path": path,
        "path_exists": bool(path) and os.path.exists(path),
    }
    digest = hashlib.sha256()
    sizes = []
    while True:
        data = upload.read(chunk)
        if not data:
            break
        sizes.append(len(data))
        digest.update(data)
    info["sha256"] = digest.hexdigest()
    info["chunk_sizes"] = sizes[:5]
    info["chunks"] = len(sizes)
    return info


def describe_form(request: hwebserver.Request) -> dict:
    chunk = int(request.GET().get("chunk", "65536"))
    try:
        body: object = len(request.body())
    except hwebserver.OperationFailed as exc:
        body = "not kept: " + str(exc)
    return {
        "fields": request.POST(),
        "files": {name: describe_upload(f, chunk) for name, f in request.files().items()},
        "body_length": body,
        "content_length": request.contentLength(),
        "pid": os.getpid(),
    }


@hwebserver.urlHandler("/form")
def form(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(json.dumps(describe_form(request)), content_type="application/json")


@hwebserver.urlHandler("/async-form")
async def async_form(request: hwebserver.Request) -> hwebserver.Response:
    await asyncio.sleep(0)
    return hwebserver.Response(json.dumps(describe_form(request)), content_type="application/json")


@hwebserver.urlHandler("/form/body")
def form_body(request: hwebserver.Request) -> bytes:
    return request.body()


@hwebserver.urlHandler("/form/save")
def save(request: hwebserver.Request) -> hwebserver.Response:
    """Read a few bytes, move the upload to disk, and read on from where it was."""
    upload = request.files()["file"]
    head = upload.read(int(request.GET().get("first", "3")))
    was_in_memory = upload.isInMemory()
    upload.saveToDisk()
    upload.saveToDisk()  # a second call changes nothing
    path = upload.temporaryFilePath()
    rest = upload.read()
    result = {
        "was_in_memory": was_in_memory,
        "in_memory": upload.isInMemory(),
        "path": path,
        "path_exists": os.path.exists(path),
        "head": head.decode("latin-1"),
        "rest": rest.decode("latin-1"),
        "size": upload.size(),
    }
    return hwebserver.Response(json.dumps(result), content_type="application/json")


@hwebserver.urlHandler("/form/raise")
def form_raise(request: hwebserver.Request) -> hwebserver.Response:
    for upload in request.files().values():
        upload.read(10)  # an open reader must not keep the temp file alive either
    raise RuntimeError("handler failed after looking at the uploads")


@hwebserver.urlHandler("/form/async-raise")
async def form_async_raise(request: hwebserver.Request) -> hwebserver.Response:
    await asyncio.sleep(0.01)
    request.files()
    raise RuntimeError("async handler failed")


@hwebserver.urlHandler("/pid")
def pid(request: hwebserver.Request) -> str:
    return str(os.getpid())


@hwebserver.urlHandler("/tempdir")
def tempdir(request: hwebserver.Request) -> str:
    return tempfile.gettempdir()


@hwebserver.urlHandler("/cookies")
def cookies(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(json.dumps(request.cookies()), content_type="application/json")


@hwebserver.urlHandler("/set-cookies")
def set_cookies(request: hwebserver.Request) -> hwebserver.Response:
    response = hwebserver.Response("cookies set")
    response.setCookie("plain", "1")
    response.setCookie(
        "full",
        'two words; "quoted", 100% \\ é',
        max_age=3600,
        expires=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        path="/app",
        domain="example.com",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.setCookie("stamp", "x", expires=0, path=None)
    response.setCookie("delta", "y", max_age=datetime.timedelta(minutes=2), samesite="None")
    response.setHeader("Set-Cookie", "raw=header; Path=/")
    return response


@hwebserver.urlHandler("/bad-cookies")
def bad_cookies(request: hwebserver.Request) -> hwebserver.Response:
    attempts = {
        "name": lambda r: r.setCookie("bad name", "v"),
        "non_ascii_name": lambda r: r.setCookie("nämé", "v"),
        "samesite": lambda r: r.setCookie("a", "v", samesite="sometimes"),
        "path": lambda r: r.setCookie("a", "v", path="/x\r\nInjected: yes"),
        "domain": lambda r: r.setCookie("a", "v", domain="a.com; Secure"),
        "expires": lambda r: r.setCookie("a", "v", expires="Thu\r\nInjected: yes"),
    }
    errors = {}
    response = hwebserver.Response("")
    for key, attempt in attempts.items():
        try:
            attempt(response)
        except ValueError as exc:
            errors[key] = str(exc)
    response.setBody(json.dumps(errors), "application/json")
    return response


if __name__ == "__main__":
    serve()

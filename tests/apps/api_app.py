"""A service of API functions: every result kind, every error, sync and async, named ports."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import os
import threading

from harness import serve

import hwebserver

_released = threading.Event()


@hwebserver.apiFunction(namespace="geo", arg_types={"x": float, "y": float, "z": float})
def vector_length(request, x, y, z):
    return math.sqrt(x * x + y * y + z * z)


@hwebserver.apiFunction()
def echo(request, *args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}


@hwebserver.apiFunction(arg_types={"count": int})
def repeat(request, text, count=2):
    return text * count


@hwebserver.apiFunction()
def ping(request):
    return "pong"


@hwebserver.apiFunction(namespace="aio")
async def add(request, a, b):
    await asyncio.sleep(0.01)
    return a + b


@hwebserver.apiFunction(namespace="aio")
async def fail(request):
    await asyncio.sleep(0)
    raise hwebserver.APIError({"reason": "async refusal"}, status=409)


@hwebserver.apiFunction()
def refuse(request, status=None):
    if status is None:
        raise hwebserver.APIError("refused")
    raise hwebserver.APIError("refused with a status", status=int(status))


@hwebserver.apiFunction()
def crash(request):
    raise RuntimeError("secret-detail-in-exception")


@hwebserver.apiFunction()
def unencodable(request):
    return {1, 2, 3}


@hwebserver.apiFunction()
def binary(request, size):
    return bytes(range(256)) * (int(size) // 256)


@hwebserver.apiFunction(return_binary=True)
def text_as_binary(request):
    return "héllo"


@hwebserver.apiFunction()
def page(request):
    return hwebserver.Response("<b>as is</b>", status=201, content_type="text/html")


@hwebserver.apiFunction()
def describe_file(request, data, label="none"):
    """Receives a file part as an UploadedFile."""
    digest = hashlib.sha256()
    while chunk := data.read(65536):
        digest.update(chunk)
    return {
        "label": label,
        "name": data.name(),
        "size": data.size(),
        "in_memory": data.isInMemory(),
        "path": data.temporaryFilePath(),
        "sha256": digest.hexdigest(),
    }


@hwebserver.apiFunction()
def reverse_bytes(request, data):
    return data.read()[::-1]


@hwebserver.apiFunction()
def client_port(request):
    return request.clientAddress()[1]


@hwebserver.apiFunction()
def wait_for_release(request):
    """Blocks its thread until release() is called: only possible if it is not on the loop."""
    released = _released.wait(30)
    _released.clear()
    return released


@hwebserver.apiFunction()
def release(request):
    _released.set()
    return True


@hwebserver.apiFunction()
def pid(request):
    return os.getpid()


@hwebserver.apiFunction(ports=["admin"])
def admin_only(request):
    return "admin:" + request.portName()


@hwebserver.apiFunction(ports=["main", "admin"])
def everywhere(request):
    return request.portName()


def wrapped_api(func):
    """The decorator of a published MCP bridge for Houdini: the server calls the wrapper,
    with the request and keyword arguments; the function it wraps takes no request."""

    @functools.wraps(func)
    def wrapper(request, **kwargs):
        return func(**kwargs)

    return hwebserver.apiFunction(namespace="t")(wrapper)


@wrapped_api
def hello_wrapped(name="world"):
    return {"hello": name}


@wrapped_api
def ping_wrapped():
    return "pong"


@hwebserver.urlHandler("/hello")
def hello(request):
    return "hello"


if __name__ == "__main__":
    serve(ports=["admin", "other"])

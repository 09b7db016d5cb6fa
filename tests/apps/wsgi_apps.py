"""WSGI apps mounted in hwebserver: Flask, a Django project, and raw PEP 3333 apps."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qsl

from flask import Flask, Response, request, stream_with_context, url_for
from harness import serve

import hwebserver

# -- Flask, under /flask ------------------------------------------------------------------------
flask_app = Flask(__name__)


class OddStr(str):
    """A header value whose encode() gives other bytes than its text."""

    def encode(self, *args, **kwargs):
        return b"odd"


@flask_app.route("/")
def flask_index():
    return {
        "path": request.path,
        "script_root": request.script_root,
        "url_for": url_for("flask_form"),
        "external": url_for("flask_index", _external=True),
    }


@flask_app.route("/form", methods=["GET", "POST"])
def flask_form():
    if request.method == "POST":
        return {"fields": request.form.to_dict(), "files": sorted(request.files)}
    return "<form method=post><input name=x></form>"


@flask_app.route("/stream")
def flask_stream():
    count = int(request.args.get("n", "3"))

    @stream_with_context
    def rows():
        for index in range(count):
            yield f"row{index}\n"

    return Response(rows(), mimetype="text/plain")


@flask_app.route("/override")
def flask_override():
    return "flask override"  # never reached: the urlHandler below has the longer path


@hwebserver.urlHandler("/flask/override")
def handler_override(req):
    return "urlHandler override"


# -- Django, under /django ------------------------------------------------------------------------
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djsite.settings")
from django.core.wsgi import get_wsgi_application  # noqa: E402

django_app = get_wsgi_application()

# -- raw PEP 3333 apps, under /raw ------------------------------------------------------------------
closed: list[str] = []
closed_lock = threading.Lock()


class Tracked:
    """An iterable whose close() is recorded: PEP 3333 says the server always calls it."""

    def __init__(self, name, blocks, fail_at=None):
        self.name = name
        self.blocks = blocks
        self.fail_at = fail_at

    def __iter__(self):
        for index, block in enumerate(self.blocks):
            if index == self.fail_at:
                raise RuntimeError("iterable failed on purpose")
            yield block

    def close(self):
        with closed_lock:
            closed.append(self.name)


class ClosingList(list):
    """A one-block list with a close() that waits for /raw/release: its block must reach the
    client before close() returns, as any iterable's does."""

    def close(self):
        released.wait(30)
        with closed_lock:
            closed.append("closing-list")


released = threading.Event()

# /raw/list-of/<kind>: a one-block list answer, with its headers.
ONE_BLOCK_LISTS = {
    "empty": ([], [b""]),
    "str": ([], ["text, not bytes"]),
    "bytearray": ([], [bytearray(b"from a bytearray")]),
    "short": ([("Content-Length", "100")], [b"x" * 13]),  # less than it announced
    "long": ([("Content-Length", "5")], [b"x" * 13]),  # more than it announced
}


def environ_all(environ, start_response):
    """Every key of the environ; objects by their type."""
    shown = {
        key: value if isinstance(value, (str, bool, list, tuple)) else type(value).__name__
        for key, value in environ.items()
    }
    environ["HTTP_X_SET_BY_THE_APP"] = "must not reach the next request"
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(shown).encode()]


def raw_app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/environ":
        keys = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD", "SERVER_PROTOCOL")
        data = {key: environ.get(key) for key in keys}
        data["CONTENT_LENGTH"] = environ.get("CONTENT_LENGTH")
        data["HTTP_X_TEST"] = environ.get("HTTP_X_TEST")
        data["url_scheme"] = environ["wsgi.url_scheme"]
        body = json.dumps(data).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if path == "/environ-all":
        return environ_all(environ, start_response)
    if path == "/two-blocks":  # a generator: chunked, each block a write of the thread's
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (block for block in (b"first;", b"second"))
    if path == "/swallow":  # reads its body whatever happens, then answers 400
        try:
            while environ["wsgi.input"].read(65536):
                pass
        except OSError:
            pass  # the body was cut short: this app answers anyway
        start_response("400 Bad Request", [("Content-Length", "0")])
        return []
    if path == "/upload":
        # Reads the body in blocks and reports as it goes: the first line goes out before the
        # client has sent everything, which a test checks.
        stream = environ["wsgi.input"]
        slow = "slow" in environ["QUERY_STRING"]
        start_response("200 OK", [("Content-Type", "text/plain")])

        def report():
            digest = hashlib.sha256()
            first = stream.read(65536)
            digest.update(first)
            total = len(first)
            yield f"first {len(first)}\n".encode()
            while True:
                block = stream.read(65536)
                if not block:
                    break
                if slow:
                    time.sleep(0.001)  # a consumer slower than the network
                digest.update(block)
                total += len(block)
            yield f"total {total} {digest.hexdigest()}\n".encode()

        return report()
    if path == "/answer-then-read":  # streams part of its answer before it reads the body
        start_response("200 OK", [("Content-Type", "text/plain")])

        def answer():
            yield b"answered;"
            yield b"read %d" % len(environ["wsgi.input"].read(5))

        return answer()
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written-")
        write(b"then-")
        return [b"returned"]
    if path == "/exc-info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response(
                "503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info()
            )
        return [b"replaced by exc_info"]
    if path == "/errors-unended":  # a line never ended: logged when the request ends
        environ["wsgi.errors"].write("unended-wsgi-error-line")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"logged"]
    if path == "/errors":
        environ["wsgi.errors"].write("custom-wsgi-error-line\n")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"logged"]
    if path == "/file":
        params = dict(parse_qsl(environ["QUERY_STRING"]))
        file = open(params["path"], "rb")
        file.seek(int(params.get("offset", "0")))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](file, 8192)
    if path == "/write-then-file":  # write() first, then a file_wrapper: one head, both parts
        params = dict(parse_qsl(environ["QUERY_STRING"]))
        write = start_response("200 OK", [("Content-Type", "application/octet-stream")])
        write(b"before;")
        return environ["wsgi.file_wrapper"](open(params["path"], "rb"), 8192)
    if path.startswith("/tracked/"):
        name = path.rsplit("/", 1)[1]
        start_response("200 OK", [("Content-Type", "text/plain")])
        if name == "fails":
            return Tracked(name, [b"a", b"b", b"c"], fail_at=1)
        if name == "endless":
            return Tracked(name, iter(lambda: b"x" * 65536, None))
        return Tracked(name, [b"one-", b"two"])
    if path == "/framed":
        # Answers as its query says: each answer must be framed by its own status, headers,
        # body and request, whatever the answers before it were.
        params = dict(parse_qsl(environ["QUERY_STRING"]))
        headers = [("Content-Type", "text/plain")]
        if "cl" in params:
            headers.append(("Content-Length", params["cl"]))
        if "bytes" in params:
            headers.append(("X-Raw", b"bytes"))  # refused: header values are str
        if "odd" in params:  # a value whose encode() says something else than its text
            headers.append(("X-Odd", OddStr("plain") if params["odd"] == "1" else "plain"))
        shaped = params.get("shape")
        if shaped == "lists":  # pairs as lists, not tuples: accepted, as they unpack
            headers = [list(pair) for pair in headers]
        elif shaped == "iterator":  # not a list as PEP 3333 says, accepted all the same
            headers = iter(headers)
        start_response(params.get("status", "200 OK"), headers)
        return [b"x" * int(params.get("n", "3"))]
    if path.startswith("/list-of/"):
        headers, body = ONE_BLOCK_LISTS[path.rsplit("/", 1)[1]]
        start_response("200 OK", [("Content-Type", "text/plain"), *headers])
        return body
    if path == "/closing-list":
        released.clear()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ClosingList([b"block before close"])
    if path == "/release":
        released.set()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"released"]
    if path == "/raises-after-start":
        start_response("200 OK", [("Content-Type", "text/plain")])
        raise RuntimeError("failed after start_response, before any block")
    if path == "/closed":
        with closed_lock:
            body = json.dumps(closed).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"raw: no such path"]


def admin_app(environ, start_response):
    if environ["PATH_INFO"] == "/raw/environ-all":  # the same target as a main-port request
        return environ_all(environ, start_response)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"admin {environ['SCRIPT_NAME']!r} {environ['PATH_INFO']!r}".encode()]


hwebserver.registerWSGIApp(flask_app, "/flask")
hwebserver.registerWSGIApp(django_app, "/django")
hwebserver.registerWSGIApp(raw_app, "/raw")
hwebserver.registerWSGIApp(admin_app, "/", ports=["admin"])


@hwebserver.urlHandler("/plain")
def plain(req):
    return "plain handler"


if __name__ == "__main__":
    serve(ports=["admin"])

"""Handlers that set headers Houdini's Response docs let them set: their own Server and Date,
and Transfer-Encoding: chunked."""

from __future__ import annotations

from harness import serve

import hwebserver


@hwebserver.urlHandler("/own-server")
def own_server(request: hwebserver.Request) -> hwebserver.Response:
    response = hwebserver.Response("mine")
    response.setHeader("Server", "Houdini-Plugin/1.0")
    return response


@hwebserver.urlHandler("/own-date")
def own_date(request: hwebserver.Request) -> hwebserver.Response:
    response = hwebserver.Response("dated")
    response.setHeader("date", "Tue, 01 Jan 2030 00:00:00 GMT")
    return response


@hwebserver.urlHandler("/own-server-stream")
async def own_server_stream(request: hwebserver.Request) -> hwebserver.Response:
    response = hwebserver.Response(iter([b"a", b"b"]))
    response.setHeader("Server", "Streamer")
    return response


@hwebserver.urlHandler("/chunked")
def chunked(request: hwebserver.Request) -> hwebserver.Response:
    response = hwebserver.Response(b"0123456789" * 10, content_type="text/plain")
    response.setHeader("Transfer-Encoding", "chunked")
    return response


@hwebserver.urlHandler("/chunked-then-body")
def chunked_then_body(request: hwebserver.Request) -> hwebserver.Response:
    response = hwebserver.Response()
    response.setHeader("transfer-encoding", "Chunked")
    response.setBody("body set after the header", "text/plain")
    return response


@hwebserver.urlHandler("/chunked-removed")
def chunked_removed(request: hwebserver.Request) -> hwebserver.Response:
    response = hwebserver.Response("back to a length")
    response.setHeader("Transfer-Encoding", "chunked")
    response.removeHeader("Transfer-Encoding")
    return response


@hwebserver.urlHandler("/is-chunked")
def is_chunked(request: hwebserver.Request) -> str:
    response = hwebserver.Response("x")
    before = response.isChunked()
    response.setHeader("Transfer-Encoding", "chunked")
    return f"{before} {response.isChunked()}"


if __name__ == "__main__":
    serve()

"""A service that records every file its worker opens with truncation in its TMPDIR.

A Python audit hook sees each open() and os.open() the process makes, with its flags; the
test reads what it saw from /truncating-opens.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any

from harness import serve

import hwebserver

TMP = os.path.realpath(tempfile.gettempdir())
truncating_opens: list[str] = []


def watch_opens(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not isinstance(args[0], (str, bytes)):
        return
    path, _mode, flags = args
    if flags & os.O_TRUNC and os.path.realpath(os.fsdecode(path)).startswith(TMP + os.sep):
        truncating_opens.append(os.fsdecode(path))


sys.addaudithook(watch_opens)


@hwebserver.urlHandler("/upload", methods=["POST"])
def upload(request: hwebserver.Request) -> hwebserver.Response:
    sizes = {}
    for name, file in request.files().items():
        file.saveToDisk()  # an upload small enough to be in memory goes to a file now
        with open(file.temporaryFilePath(), "rb") as stored:
            sizes[name] = len(stored.read())
    return hwebserver.Response(json.dumps(sizes), content_type="application/json")


@hwebserver.urlHandler("/raw", methods=["POST"])
def raw(request: hwebserver.Request) -> str:
    return str(len(request.body()))


@hwebserver.urlHandler("/truncating-opens")
def opens(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(json.dumps(truncating_opens), content_type="application/json")


if __name__ == "__main__":
    serve()

"""The service scripts/bench_upload measures: it reports the uploads it received."""

from __future__ import annotations

import json
import os
import sys

import hwebserver


@hwebserver.urlHandler("/upload", methods=["POST"])
def upload(request: hwebserver.Request) -> hwebserver.Response:
    files = {
        name: {"size": f.size(), "in_memory": f.isInMemory()} for name, f in request.files().items()
    }
    return hwebserver.Response(json.dumps(files), content_type="application/json")


@hwebserver.urlHandler("/pid")
def pid(request: hwebserver.Request) -> str:
    return str(os.getpid())


def report(name: str, port: int) -> None:
    with open(sys.argv[1], "a") as file:
        file.write(f"{name} {port}\n")


if __name__ == "__main__":
    hwebserver.run(port=0, in_background=False, port_callback=report)

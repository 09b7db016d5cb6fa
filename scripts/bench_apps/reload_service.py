"""The service scripts/bench_reload measures: VERSION tells which code answers."""

from __future__ import annotations

import os

import hwebserver

VERSION = "v1"


@hwebserver.urlHandler("/version")
def version(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(VERSION, content_type="text/plain")


if __name__ == "__main__":
    hwebserver.run(
        port=0,
        in_background=False,
        workers=int(os.environ.get("WORKERS", "2")),
        verbosity=hwebserver.webServerVerbosity.Medium,
    )

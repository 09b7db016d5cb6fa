"""registerArchiveFile over an archive the test builds (HWEBSERVER_TEST_ARCHIVE): every port
at /arch, the main port only at /arch-main, and a handler inside the prefix that wins."""

from __future__ import annotations

import os

from harness import serve

import hwebserver

ARCHIVE = os.environ["HWEBSERVER_TEST_ARCHIVE"]

hwebserver.registerArchiveFile(ARCHIVE, "/arch")
hwebserver.registerArchiveFile(ARCHIVE, url_prefix="/arch-main", port=0)


@hwebserver.urlHandler("/arch/special")
def special(request: hwebserver.Request) -> str:
    return "handler beats the archive"


if __name__ == "__main__":
    serve()

"""A service started as under `ulimit -n N`: HWEBSERVER_TEST_NOFILE is its soft RLIMIT_NOFILE,
which the supervisor and its workers inherit. /pid answers which worker served; /hog takes
every descriptor left (a leaking handler), /release gives them back."""

from __future__ import annotations

import os
import resource

from harness import serve

import hwebserver

_limit = int(os.environ.get("HWEBSERVER_TEST_NOFILE", "0"))
if _limit:
    _hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (_limit, _hard))


_held: list[int] = []


@hwebserver.urlHandler("/pid")
def pid(request: hwebserver.Request) -> str:
    return str(os.getpid())


@hwebserver.urlHandler("/hog")
def hog(request: hwebserver.Request) -> str:
    """Opens files until the process has no descriptor left, and keeps them (a leak)."""
    try:
        while True:
            _held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        pass
    return str(len(_held))


@hwebserver.urlHandler("/release")
def release(request: hwebserver.Request) -> str:
    count = len(_held)
    while _held:
        os.close(_held.pop())
    return str(count)


if __name__ == "__main__":
    serve()

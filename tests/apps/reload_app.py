"""A service the supervisor tests copy and edit: VERSION says which code answers.

Run as `python reload_app.py` (run() kwargs come from the test through the harness).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time

from harness import serve

import hwebserver

VERSION = "v1"
_hoard: list[bytes] = []
# State built before run(): generation 0, forked, shares it; a reload loads it anew.
LOADED_BY = os.getpid()


@hwebserver.urlHandler("/loaded-by")
def loaded_by(request: hwebserver.Request) -> str:
    return f"{LOADED_BY} {os.getpid()}"


_counted = 0
_count_lock = threading.Lock()


@hwebserver.urlHandler("/count")
def count(request: hwebserver.Request) -> str:
    """A module-level counter: one per process that serves (a worker, or the process itself)."""
    global _counted
    with _count_lock:
        _counted += 1
        return f"{_counted} {os.getpid()}"


@hwebserver.urlHandler("/version")
def version(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(f"{VERSION} {os.getpid()}", content_type="text/plain")


@hwebserver.urlHandler("/slow")
async def slow(request: hwebserver.Request) -> hwebserver.Response:
    print(f"slow request started in {os.getpid()}", flush=True)  # tests wait for this line
    await asyncio.sleep(float(request.GET().get("s", "2")))
    return hwebserver.Response(f"{VERSION} slept", content_type="text/plain")


@hwebserver.urlHandler("/block")
async def block(request: hwebserver.Request) -> str:
    """Blocks the event loop itself: its heartbeats stop."""
    print(f"blocking request started in {os.getpid()}", flush=True)  # tests wait for this line
    time.sleep(float(request.GET().get("s", "60")))
    return "unblocked"


@hwebserver.urlHandler("/bloat")
def bloat(request: hwebserver.Request) -> str:
    _hoard.append(b"x" * (int(request.GET().get("mib", "100")) * 1024 * 1024))
    return f"{os.getpid()} holds {len(_hoard)}"


@hwebserver.urlHandler("/child")
def child(request: hwebserver.Request) -> str:
    """Starts a long-lived child process and answers its pid."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    return f"{os.getpid()} {process.pid}"


@hwebserver.urlHandler("/crash")
def crash(request: hwebserver.Request) -> str:
    os._exit(int(request.GET().get("code", "3")))


@hwebserver.urlHandler("/shutdown")
def shutdown(request: hwebserver.Request) -> str:
    hwebserver.requestShutdown()
    return "shutting down"


def admin_only(request: hwebserver.Request) -> str:
    return f"admin {request.port()}"


# Only where the test declares the port: a handler for an undeclared port is an error at run().
if "admin" in json.loads(os.environ.get("HWEBSERVER_TEST_RUN_KWARGS", "{}")).get("ports", []):
    hwebserver.urlHandler("/admin-only", ports=["admin"])(admin_only)


if __name__ == "__main__":
    serve()

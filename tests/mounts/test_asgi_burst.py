"""A burst of requests to a mounted ASGI app holds few new objects before they run.

uvloop hands a worker every connection that became readable in one turn of its loop, and
each request parsed then waits for the next turn, where its task runs. Python's cyclic
garbage collector counts the objects made meanwhile and walks its young generation past 700;
what survives moves on, and the full passes that follow held a worker ~11 ms under 64 busy
connections. The scope, its lists and dicts and the app's coroutine are therefore made in the
request's task (user_tasks.start's `make`), not while the burst is parsed: 12 objects per
request are left, 19 before. The probe runs in a process of its own (it mounts an app and
turns the collector off).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import python_env

PROBE = Path(__file__).resolve().parent.parent / "apps" / "asgi_burst_probe.py"
CONNECTIONS = 64


def test_a_burst_of_parsed_requests_holds_no_scope_or_app_coroutine_yet():
    result = subprocess.run(
        [sys.executable, str(PROBE), str(CONNECTIONS)],
        capture_output=True,
        text=True,
        timeout=60,
        env=python_env(),
    )
    assert result.returncode == 0, result.stderr
    per_request = int(result.stdout) / CONNECTIONS
    assert per_request < 13, f"{per_request:.1f} new objects held per parsed request"

"""Keeps one slow plain handler busy: GET <path> again as soon as each answer arrives.

Usage: slow_client.py PORT PATH. Runs until SIGTERM, then prints one JSON line:
{"completed": answers with status 200, "errors": failed attempts}. The "mixed" workload of
scripts/bench.py starts it before wrk and stops it (by PID) after.
"""

from __future__ import annotations

import http.client
import json
import signal
import sys
import time
from types import FrameType


class Stop(Exception):
    pass


def stop(signum: int, frame: FrameType | None) -> None:
    raise Stop


def main() -> int:
    port, path = int(sys.argv[1]), sys.argv[2]
    completed = errors = 0
    signal.signal(signal.SIGTERM, stop)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        while True:
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    completed += 1
                else:
                    errors += 1
            except (OSError, http.client.HTTPException):
                errors += 1
                connection.close()
                time.sleep(0.1)
    except (Stop, KeyboardInterrupt):  # Ctrl-C reaches the whole process group
        pass
    finally:
        connection.close()
    print(json.dumps({"completed": completed, "errors": errors}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

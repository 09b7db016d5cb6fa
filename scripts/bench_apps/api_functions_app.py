"""The hwebserver side of scripts/bench_api: trivial API functions."""

from __future__ import annotations

import sys

import hwebserver


@hwebserver.apiFunction()
def ping(request):
    return "pong"


@hwebserver.apiFunction()
def add(request, a, b):
    return a + b


def report(name: str, port: int) -> None:
    with open(sys.argv[1], "a") as file:
        file.write(f"{name} {port}\n")


if __name__ == "__main__":
    hwebserver.run(port=0, in_background=False, port_callback=report)

"""Runs hwebserver.run() for a test app: kwargs come from the test, ports go to a file."""

from __future__ import annotations

import json
import os
from typing import Any

import hwebserver


def report_port(name: str, port: int) -> None:
    path = os.environ.get("HWEBSERVER_TEST_PORT_FILE")
    if path:
        with open(path, "a") as file:
            file.write(json.dumps({"name": name, "port": port, "pid": os.getpid()}) + "\n")


def serve(**defaults: Any) -> None:
    kwargs: dict[str, Any] = {"port": 0, "in_background": False}
    kwargs.update(defaults)
    kwargs.update(json.loads(os.environ.get("HWEBSERVER_TEST_RUN_KWARGS", "{}")))
    kwargs.setdefault("port_callback", report_port)
    hwebserver.run(**kwargs)

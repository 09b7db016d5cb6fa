"""A service with the admin endpoints: the tests give run() kwargs (ports, settings) and the
admin port's settings (ADMIN_PORT_SETTINGS, JSON) through the environment."""

from __future__ import annotations

import asyncio
import json
import os
import time

from harness import serve

import hwebserver


@hwebserver.urlHandler("/hello")
def hello(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(f"hello from {os.getpid()}", content_type="text/plain")


@hwebserver.urlHandler("/slow")
async def slow(request: hwebserver.Request) -> hwebserver.Response:
    await asyncio.sleep(float(request.GET().get("s", "1")))
    return hwebserver.Response("slept", content_type="text/plain")


@hwebserver.urlHandler("/stuck")
def stuck(request: hwebserver.Request) -> hwebserver.Response:
    """A plain handler holding its handler thread `s` seconds (a database that hangs)."""
    time.sleep(float(request.GET().get("s", "1")))
    return hwebserver.Response("unstuck", content_type="text/plain")


@hwebserver.urlHandler("/boom")
def boom(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response("no", status=500, content_type="text/plain")


for name, settings in json.loads(os.environ.get("ADMIN_PORT_SETTINGS", "{}")).items():
    hwebserver.setSettingsForPort(settings, name)

if __name__ == "__main__":
    serve()

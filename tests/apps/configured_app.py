"""echo_app's handlers plus what a test configures through the environment:

- HWEBSERVER_TEST_PORT_SETTINGS: {"port name": {settings}} passed to setSettingsForPort;
- HWEBSERVER_TEST_STATIC: [[directory, url_prefix, port], ...] for registerStaticFilesDirectory
  (port -1: every port);
- HWEBSERVER_TEST_ECHO_PORTS: ["port name", ...] where /echo, /hello and /boom also answer.
"""

from __future__ import annotations

import json
import os

import echo_app  # registers the echo handlers on the main port
from harness import serve

import hwebserver
from hwebserver.worker.logs import reopen_log_files


@hwebserver.urlHandler("/static/special", is_prefix=True)
def special(request: hwebserver.Request) -> str:
    """A longer path than the /static prefix: it wins over the static files."""
    return "handler beats static files"


@hwebserver.urlHandler("/reopen-logs")
def reopen_logs(request: hwebserver.Request) -> str:
    """What SIGUSR1 does in a worker, reachable from a test."""
    reopen_log_files()
    return "reopened"


def configure() -> None:
    for port_name, settings in json.loads(
        os.environ.get("HWEBSERVER_TEST_PORT_SETTINGS", "{}")
    ).items():
        hwebserver.setSettingsForPort(settings, port_name)
    for directory, prefix, port in json.loads(os.environ.get("HWEBSERVER_TEST_STATIC", "[]")):
        hwebserver.registerStaticFilesDirectory(directory, prefix, port)
    extra = json.loads(os.environ.get("HWEBSERVER_TEST_ECHO_PORTS", "[]"))
    if extra:
        hwebserver.urlHandler("/echo", is_prefix=True, ports=extra)(echo_app.echo)
        hwebserver.urlHandler("/hello", ports=extra)(echo_app.hello)
        hwebserver.urlHandler("/boom", ports=extra)(echo_app.boom)


if __name__ == "__main__":
    configure()
    serve()

"""Server logging: start-up lines, lifecycle (Medium), access lines (High), errors.

Everything goes through the standard `logging` module under the `hwebserver` logger, so a
host application can route it; run() adds a console handler only when nothing else is set up.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from ...api.enums import webServerVerbosity
from ...api.internal.tracebacks import without_server_frames
from ...api.settings import PortSettings
from .port_logs import close_port_logger, open_port_logger, reopen_log_files

__all__ = [
    "REPORT_INTERVAL",
    "OncePerInterval",
    "ServerLog",
    "flush_output",
    "reopen_log_files",
    "setup_console_logging",
]

logger = logging.getLogger("hwebserver")
access_logger = logging.getLogger("hwebserver.access")

_CONSOLE_HANDLER_NAME = "hwebserver-console"
_ACCESS_FORMAT = '%s "%s %s" %d %d %.2fms'
# A failure that recurs (a heartbeat that cannot be built, a worker short of descriptors) is
# logged at most once per this many seconds, not once per occurrence.
REPORT_INTERVAL = 10.0


def flush_output() -> None:
    """Write out what Python buffers for the log and stdout: a process about to leave with
    os._exit() or to replace itself with exec() would lose it."""
    for handler in logging.getLogger().handlers + logger.handlers:
        try:
            handler.flush()
        except Exception:
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


class ServerLog:
    """One place that knows the verbosity and the ports' own log files (see policies/port_logs.py),
    so call sites stay one line."""

    def __init__(self, verbosity: int = webServerVerbosity.Low, debug: bool = False) -> None:
        self.verbosity = int(webServerVerbosity.High if debug else verbosity)
        self.console_access = self.verbosity >= webServerVerbosity.High
        self.port_loggers: dict[str, logging.Logger] = {}
        self.json_access = False  # ACCESS_LOG_FORMAT "json" (see request_ids.py)

    def open_port_log(self, port_name: str, settings: PortSettings) -> None:
        port_logger = open_port_logger(port_name, settings)
        if port_logger is not None:
            self.port_loggers[port_name] = port_logger

    def close(self) -> None:
        loggers, self.port_loggers = self.port_loggers, {}
        for port_logger in loggers.values():
            close_port_logger(port_logger)

    def startup(self, message: str, *args: object) -> None:
        logger.info(message, *args)

    def lifecycle(self, message: str, *args: object) -> None:
        if self.verbosity >= webServerVerbosity.Medium:
            logger.info(message, *args)

    def warning(self, message: str, *args: object) -> None:
        logger.warning(message, *args)

    def error(
        self, message: str, *args: object, exc_info: object = None, port_name: str | None = None
    ) -> None:
        logger.error(message, *args, exc_info=exc_info)  # type: ignore[arg-type]
        if port_name is not None and self.port_loggers:
            port_logger = self.port_loggers.get(port_name)
            if port_logger is not None:
                port_logger.error(message, *args, exc_info=exc_info)  # type: ignore[arg-type]

    def request_failed(self, what: str, request: Any, exc: BaseException) -> None:
        """One line, with the traceback from the application's first frame, for a handler or
        app that raised; also in the port's log."""
        without_server_frames(exc)
        self.error(
            "%s for %s %s raised %s",
            what,
            request.http_method,
            request.url_path,
            type(exc).__name__,
            exc_info=exc,
            port_name=request.conn.port_name,
        )

    def access(
        self,
        client: str,
        method: str,
        path: str,
        status: int,
        size: int,
        duration_ms: float,
        port_name: str | None = None,
        request_id: str | None = None,
        query: bytes = b"",
    ) -> None:
        """One access line; the query string as the client sent it (what tells /search?q=a
        from /search?q=b): after the path in a text line, a field of its own in JSON."""
        shown_query = query.decode("ascii", "backslashreplace")
        if self.json_access:
            line = json_access_line(
                client, method, path, status, size, duration_ms, request_id, shown_query
            )
            self._access("%s", line, port_name=port_name)
        else:
            target = f"{path}?{shown_query}" if shown_query else path
            self._access(
                _ACCESS_FORMAT,
                client,
                method,
                target,
                status,
                size,
                duration_ms,
                port_name=port_name,
            )

    def _access(self, message: str, *args: object, port_name: str | None) -> None:
        if self.console_access:
            access_logger.info(message, *args)
        if port_name is not None and self.port_loggers:
            port_logger = self.port_loggers.get(port_name)
            if port_logger is not None:
                port_logger.info(message, *args)


def json_access_line(
    client: str,
    method: str,
    path: str,
    status: int,
    size: int,
    duration_ms: float,
    request_id: str | None,
    query: str = "",
) -> str:
    """One JSON object: what log collectors (Loki, Elasticsearch, jq) parse without a regex."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    return json.dumps(
        {
            "time": stamp,
            "client": client,
            "method": method,
            "path": path,
            "query": query,
            "status": status,
            "bytes": size,
            "duration_ms": round(duration_ms, 3),
            "pid": os.getpid(),
            "request_id": request_id,
        },
        separators=(",", ":"),
    )


def setup_console_logging() -> None:
    """Add a stderr handler unless the host already configured logging for us."""
    if logger.handlers or logging.getLogger().handlers:
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_CONSOLE_HANDLER_NAME)
    handler.setFormatter(
        logging.Formatter("%(asctime)s [hwebserver %(process)d] %(levelname)s %(message)s")
    )
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


class OncePerInterval:
    """Says whether a log line may be written now: at most one per `interval` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last: float | None = None

    def allow(self, now: float) -> bool:
        if self.last is not None and now - self.last < self.interval:
            return False
        self.last = now
        return True

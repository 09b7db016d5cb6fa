"""LOG_FILE and MIN_LOG_SEVERITY: a port's log lines also go to a file of its own.

What a port's file receives: one access line per request on that port (whatever the
console verbosity), and the errors of requests on that port (a handler that raised, with
its traceback; a response that could not be sent), each at or above MIN_LOG_SEVERITY.

webServerSeverity maps onto logging levels as follows (decided):

    Message -> INFO (20)      access lines
    Prompt  -> 25             (between INFO and WARNING; nothing is logged at it today)
    Warning -> WARNING (30)
    Abort   -> ERROR (40)     handler exceptions, failed sends
    Fatal   -> CRITICAL (50)

so MIN_LOG_SEVERITY=Warning keeps errors and drops access lines. Lines name the severity:
`2025-01-31 12:00:00,000 [hwebserver 1234] Message 127.0.0.1:5000 "GET /x" 200 5 0.12ms`.

Files are opened for appending (several workers may share one) and shared by ports that
name the same file. reopen_log_files() reopens every one, for log rotation (SIGUSR1).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from ...api.enums import webServerSeverity
from ...api.settings import PortSettings

SEVERITY_LEVELS = {
    webServerSeverity.Message: logging.INFO,
    webServerSeverity.Prompt: 25,
    webServerSeverity.Warning: logging.WARNING,
    webServerSeverity.Abort: logging.ERROR,
    webServerSeverity.Fatal: logging.CRITICAL,
}
_SEVERITY_NAMES = {level: severity.name for severity, level in SEVERITY_LEVELS.items()}


def severity_level(severity: Any) -> int:
    """The logging level of a webServerSeverity (None: Message, everything)."""
    if severity is None:
        return SEVERITY_LEVELS[webServerSeverity.Message]
    return SEVERITY_LEVELS[webServerSeverity(severity)]


class SeverityFormatter(logging.Formatter):
    """Names a line's severity as Houdini does (Message, Warning, Abort, ...)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s [hwebserver %(process)d] %(severity)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.severity = _SEVERITY_NAMES.get(record.levelno, record.levelname)
        return super().format(record)


class ReopenableFileHandler(logging.FileHandler):
    def reopen(self) -> None:
        """Continue in a fresh file at the same path (the old one was moved away)."""
        with self.lock:  # type: ignore[union-attr]
            old = self.setStream(self._open())
            if old is not None:
                old.close()


class LogFiles:
    """The log files this process has open, by path, with how many ports use each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[ReopenableFileHandler, int]] = {}

    def acquire(self, path: str) -> ReopenableFileHandler:
        key = os.path.abspath(path)
        with self._lock:
            handler, users = self._open.get(key, (None, 0))
            if handler is None:
                handler = ReopenableFileHandler(key, mode="a", encoding="utf-8")
                handler.setFormatter(SeverityFormatter())
            self._open[key] = (handler, users + 1)
            return handler

    def release(self, handler: ReopenableFileHandler) -> None:
        with self._lock:
            key = handler.baseFilename
            entry = self._open.get(key)
            if entry is None:
                return
            if entry[1] > 1:
                self._open[key] = (handler, entry[1] - 1)
                return
            del self._open[key]
        handler.close()

    def reopen_all(self) -> None:
        with self._lock:
            handlers = [handler for handler, _ in self._open.values()]
        for handler in handlers:
            try:
                handler.reopen()
            except OSError as exc:  # keep logging to the old file rather than crash
                logging.getLogger("hwebserver").error(
                    "cannot reopen log file %s: %s", handler.baseFilename, exc
                )


log_files = LogFiles()


def reopen_log_files() -> None:
    """Reopen every LOG_FILE of this process (SIGUSR1, after logrotate moved them)."""
    log_files.reopen_all()


def check_log_file(settings: PortSettings) -> None:
    """At start-up: LOG_FILE can be opened for appending, else ValueError naming it."""
    path = settings.LOG_FILE
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ValueError(
            f"LOG_FILE: cannot open {path!r} for appending: {exc.strerror or exc}"
        ) from None


def open_port_logger(port_name: str, settings: PortSettings) -> logging.Logger | None:
    """A logger writing to the port's LOG_FILE at MIN_LOG_SEVERITY and above, or None."""
    path = settings.LOG_FILE
    if not path:
        return None
    # A standalone logger: not in logging's global registry, nothing propagates to the console.
    port_logger = logging.Logger(f"hwebserver.port.{port_name}")
    port_logger.setLevel(severity_level(settings.MIN_LOG_SEVERITY))
    port_logger.propagate = False
    port_logger.addHandler(log_files.acquire(str(path)))
    return port_logger


def close_port_logger(port_logger: logging.Logger) -> None:
    for handler in list(port_logger.handlers):
        port_logger.removeHandler(handler)
        if isinstance(handler, ReopenableFileHandler):
            log_files.release(handler)

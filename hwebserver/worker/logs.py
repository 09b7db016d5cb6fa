"""Server logging: start-up lines, lifecycle (Medium), access lines (High), errors.

Everything goes through the standard `logging` module under the `hwebserver` logger, so a
host application can route it; run() adds a console handler only when nothing else is set up.
"""

from __future__ import annotations

import logging
import sys

from ..api.enums import webServerVerbosity

logger = logging.getLogger("hwebserver")
access_logger = logging.getLogger("hwebserver.access")

_CONSOLE_HANDLER_NAME = "hwebserver-console"


class ServerLog:
    """One place that knows the verbosity, so call sites stay one line."""

    def __init__(self, verbosity: int = webServerVerbosity.Low, debug: bool = False) -> None:
        self.verbosity = int(webServerVerbosity.High if debug else verbosity)

    def startup(self, message: str, *args: object) -> None:
        logger.info(message, *args)

    def lifecycle(self, message: str, *args: object) -> None:
        if self.verbosity >= webServerVerbosity.Medium:
            logger.info(message, *args)

    def warning(self, message: str, *args: object) -> None:
        logger.warning(message, *args)

    def error(self, message: str, *args: object, exc_info: object = None) -> None:
        logger.error(message, *args, exc_info=exc_info)  # type: ignore[arg-type]

    def access(
        self, client: str, method: str, path: str, status: int, size: int, duration_ms: float
    ) -> None:
        access_logger.info(
            '%s "%s %s" %d %d %.2fms', client, method, path, status, size, duration_ms
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

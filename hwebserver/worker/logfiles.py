"""SIGUSR1: reopen every log file this process writes, after logrotate moved it away."""

from __future__ import annotations

import logging


def _file_handlers() -> list[logging.FileHandler]:
    loggers: list[logging.Logger] = [logging.getLogger()]
    for candidate in list(logging.root.manager.loggerDict.values()):
        if isinstance(candidate, logging.Logger):
            loggers.append(candidate)
    handlers: dict[int, logging.FileHandler] = {}
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler):
                handlers[id(handler)] = handler
    return list(handlers.values())


def reopen_log_files() -> int:
    """Reopen (by path) each FileHandler's stream; returns how many were reopened."""
    count = 0
    for handler in _file_handlers():
        handler.acquire()
        try:
            old = handler.setStream(handler._open())
            if old is not None:
                old.close()
            count += 1
        except OSError:
            logging.getLogger("hwebserver").exception("cannot reopen %s", handler.baseFilename)
        finally:
            handler.release()
    return count

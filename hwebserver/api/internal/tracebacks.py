"""Tracebacks as the application's author wants to read them: from the first frame of their
own code, without the server's frames (the worker's thread pool, the task a coroutine starts in,
the command line's import) that called it.

Only the leading frames go: once the application's code runs, every frame stays, including
the server's own when the application called into it (a Response built with a bad header).
"""

from __future__ import annotations

import asyncio
import os
import site
import sysconfig
import traceback
from types import TracebackType

# hwebserver/, three levels above this file (hwebserver/api/internal/tracebacks.py).
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + os.sep
# runpy and importlib (the command line's import of APP, `python -m`) call the application
# before any of its frames: they are the server's path to it, not the user's code.
_PATHS = sysconfig.get_paths()
_STDLIB_DIRS = tuple(os.path.abspath(_PATHS[key]) + os.sep for key in ("stdlib", "platstdlib"))
# Installed packages may live below the standard library's directory (a Python without a
# venv: /usr/local/lib/python3.12/site-packages): they are the application's, not the server's.
_SITE_DIRS = tuple(
    os.path.abspath(path) + os.sep
    for path in {*site.getsitepackages(), _PATHS["purelib"], _PATHS["platlib"]}
)


# A compiled module's frames (setup.py: mypyc) name its source as the build named it, relative
# to the directory that holds the package (hwebserver/worker/http/protocol.py).
_PACKAGE_PARENT = os.path.dirname(_PACKAGE_DIR.rstrip(os.sep))


def is_server_frame(filename: str) -> bool:
    """A frame of hwebserver itself (compiled or not), of the standard library, or frozen
    (importlib)."""
    if filename.startswith("<frozen "):
        return True
    if not os.path.isabs(filename) and _is_compiled_source(filename):
        return True
    path = os.path.abspath(filename)
    if path.startswith(_PACKAGE_DIR):
        return True
    return path.startswith(_STDLIB_DIRS) and not path.startswith(_SITE_DIRS)


def _is_compiled_source(filename: str) -> bool:
    """A relative name that is one of the package's own sources, as a compiled frame names it."""
    source = os.path.join(_PACKAGE_PARENT, filename)
    return source.startswith(_PACKAGE_DIR) and os.path.isfile(source)


def first_user_frame(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from the first frame outside the server; None if there is none."""
    while tb is not None and is_server_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return tb


def user_traceback(exc: BaseException) -> TracebackType | None:
    """What to show of `exc.__traceback__`: from the application's first frame. A failure
    with no frame of the application's is the server's own: its whole traceback stays. A
    SyntaxError names its own place (file, line, caret): the import machinery's frames that
    compiled the file are dropped even though no frame of the application's remains."""
    trimmed = first_user_frame(exc.__traceback__)
    if trimmed is None and not isinstance(exc, SyntaxError):
        return exc.__traceback__
    return trimmed


def without_server_frames(exc: BaseException) -> BaseException:
    """`exc` with its traceback trimmed in place to the application's frames, so that every
    place that shows it (the log through exc_info, a port's LOG_FILE, a debug 500 page, a
    logging handler of the application's own) shows the same thing. Its causes are trimmed
    too: a SystemExit carried as a RuntimeError (see contained) shows from the app's frame.
    Returns `exc`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.with_traceback(user_traceback(current))
        current = current.__cause__
    return exc


def format_user_exception(exc: BaseException) -> str:
    """The traceback text from the application's first frame (see without_server_frames)."""
    without_server_frames(exc)
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def exception_summary(exc: BaseException) -> str:
    """One line: `SyntaxError: invalid syntax (service.py, line 3)`."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def contained(exc: BaseException) -> BaseException:
    """What a handler or an app raised, as the server handles it: an Exception, a
    CancelledError or a GeneratorExit as it is; anything else that is not an Exception
    (SystemExit, KeyboardInterrupt) as a RuntimeError caused by it. Such code fails its own
    request: it does not stop the worker, nor the thread or the event loop it ran on (the
    worker's own signals never raise inside it: they have handlers of their own)."""
    if isinstance(exc, (Exception, asyncio.CancelledError, GeneratorExit)):
        return exc
    return carried(exc)


def carried(exc: BaseException) -> RuntimeError:
    """`exc` carried as a RuntimeError caused by it: an Exception every handler of failures
    takes, which the log shows with `exc` and its traceback first."""
    error = RuntimeError(f"raised {exc!r}")
    error.__cause__ = exc
    return error


def contained_in(exc: BaseException, own_task: asyncio.Task[object] | None) -> BaseException:
    """contained(), for code that ran in `own_task`. A GeneratorExit that is that coroutine
    being closed (the loop goes, the task is collected) is raised again: the coroutine may run
    nothing more. One the code raised itself, while its task runs, is its failure like any
    other exception."""
    if isinstance(exc, GeneratorExit) and _closing_from_outside(own_task):
        raise exc
    return contained(exc)


def _closing_from_outside(own_task: asyncio.Task[object] | None) -> bool:
    try:
        return asyncio.current_task() is not own_task
    except RuntimeError:  # no loop runs any more: closed at the worker's exit
        return True

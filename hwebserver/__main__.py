"""The command line: python -m hwebserver APP [options] (also installed as `hwebserver`)."""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from . import app_mounts, control_command
from .api.internal.run_arguments import add_command_line_options
from .api.internal.tracebacks import exception_summary, format_user_exception
from .api.settings import add_command_line_settings
from .worker.process import launch

EPILOG = """\
APP is a Python file (path/to/service.py) or an importable module (package.service) that
registers handlers with hwebserver.urlHandler, apiFunction, webSocket, ... It is imported
under its own name, not as __main__, so a run() guarded by `if __name__ == "__main__"` in it
does not run; this command calls run() with the options above. A run() the APP calls at
import (as Houdini scripts do) is the one server: the options typed here replace its own
arguments, the others keep the APP's values. A start-up failure (busy port, bad address or
setting, missing APP, syntax error) is one line on stderr, exit status 1; an exception of
the APP's own code is "failed to start: ..." and its traceback from the APP's first frame, as
a reload reports it; --debug shows the whole traceback.

signals (sent to the supervisor, the process this command starts; with --no-supervisor, the
process that serves itself, where a reload re-executes it in place, keeping its pid):
  HUP          reload: start workers on the current code, then drain the old ones;
               nothing is refused; a broken edit leaves the old workers serving
  TERM, INT    graceful shutdown: stop accepting, finish requests in flight (at most
               GRACEFUL_TIMEOUT, 30 s), close idle connections and WebSockets (1001)
  INT again    stop at once
  QUIT         stop at once
  TTIN, TTOU   one worker more, one worker fewer
  USR1         reopen log files (after logrotate)

environment:
  HWEBSERVER_SUPERVISOR=0                  serve from this process (as --no-supervisor); 1:
                                           with a supervisor; typed options win
  LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES   systemd socket activation: serve the sockets
                                           passed instead of binding
  NOTIFY_SOCKET                            systemd notification: READY=1, RELOADING=1,
                                           STOPPING=1 (Type=notify or notify-reload)
  HWEBSERVER_<SETTING>                     every server-wide setting (timeouts, limits,
                                           recycling), e.g. HWEBSERVER_GRACEFUL_TIMEOUT=10

Server-wide settings (MAX_REQUESTS, MAX_WORKER_MEMORY, START_METHOD, ...) go in a settings file
given with --settings, or in the environment, which wins over the file; the options above
(START_METHOD is also --start-method) win over both.
--host is --address (uvicorn's spelling); --bind HOST:PORT sets both (gunicorn's).
"""


def code_form() -> str:
    """How the request path runs here: compiled (a wheel built with HWEBSERVER_COMPILE=1, see
    setup.py) or pure Python. Found without importing the worker."""
    spec = importlib.util.find_spec("hwebserver.worker.http.protocol")
    origin = spec.origin if spec is not None and spec.origin is not None else ""
    compiled = origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    return "request path compiled" if compiled else "pure Python"


def build_parser() -> argparse.ArgumentParser:
    commands = "|".join(control_command.SUBCOMMANDS)
    parser = argparse.ArgumentParser(
        prog="hwebserver",
        # The control commands have a parser of their own: the usage names them too.
        usage=f"%(prog)s APP [options]\n       %(prog)s {{{commands}}} [--pid-file FILE | "
        "--admin-port PORT]   (hwebserver status --help)",
        description="Serve the handlers an application registers, with a supervisor and "
        "reloadable worker processes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # Options not typed stay out of the result: only typed ones override the script's run().
        argument_default=argparse.SUPPRESS,
    )
    from . import __version__  # the installed distribution's version

    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__} ({code_form()})"
    )
    parser.add_argument(
        "app",
        metavar="APP",
        help="Python file or module registering handlers; MODULE:ATTR (or FILE.py:ATTR) "
        "serves the WSGI or ASGI application ATTR of it at /",
    )
    # The options of run(), from its declarations: each one's dest is run()'s argument name.
    add_command_line_options(parser)
    add_command_line_settings(parser)  # the settings that declare an option: --start-method
    control_command.add_serving_options(parser)  # --admin-port, --pid-file
    return parser


def load_app(app: str) -> ModuleType:
    """Import APP: a file path (its directory goes first on sys.path, as for a script) or a
    module name, then mount its ATTR when APP is MODULE:ATTR (as gunicorn and uvicorn take
    an application)."""
    where, attribute = split_app(app)
    module = import_app(where)
    if attribute:
        app_mounts.mount_attribute(module, where, attribute)
    return module


def split_app(app: str) -> tuple[str, str]:
    """MODULE:ATTR or FILE.py:ATTR -> (MODULE or FILE.py, ATTR); else (APP, "")."""
    where, sep, attribute = app.rpartition(":")
    if sep and where and all(part.isidentifier() for part in attribute.split(".")):
        return where, attribute
    return app, ""


def import_app(app: str) -> ModuleType:
    """A file path or a module name, loaded under its own name, so it is in sys.modules and
    its file is watched."""
    if app.endswith(".py") or os.sep in app or os.path.isfile(app):
        path = os.path.abspath(app)
        if not os.path.isfile(path):
            raise SystemExit(f"hwebserver: no such file: {app}")
        sys.path.insert(0, os.path.dirname(path))
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise SystemExit(f"hwebserver: cannot load {app}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    sys.path.insert(0, os.getcwd())
    return importlib.import_module(app)


def main(argv: Sequence[str] | None = None) -> int:
    if control_command.is_subcommand(argv):  # status, reload, stop
        return control_command.main(argv)
    given = vars(build_parser().parse_args(argv))
    app = given.pop("app")
    import hwebserver
    from hwebserver import command_line

    # An APP that calls run() itself at import gets these options over its own arguments.
    session = command_line.start({**given, "in_background": False}, app=app)
    try:
        load_app(app)
        if not session.run_called:
            session.runs_itself = True
            hwebserver.run()
    except Exception as exc:
        line = startup_failure_line(app, exc)
        if given.get("debug") or launch.started_by_supervisor():
            raise  # --debug: all of it; a reload's worker: the supervisor reports it
        if line is None:
            # The application's own error: as a reload reports it, with its frames only.
            summary = exception_summary(exc)
            print(f"hwebserver: failed to start: {summary}", file=sys.stderr)
            print(format_user_exception(exc), end="", file=sys.stderr)
        else:
            print(f"hwebserver: {line}", file=sys.stderr)
        return 1
    return 0


def startup_failure_line(app: str, exc: Exception) -> str | None:
    """What the user got wrong, in one line; None for an error of the application's own code
    (its traceback, from its own first frame, is what helps)."""
    from hwebserver import command_line
    from hwebserver.api.errors import OperationFailed

    if isinstance(exc, SyntaxError):
        return f"syntax error in {exc.filename}, line {exc.lineno}: {exc.msg}"
    if isinstance(exc, ImportError):
        return f"cannot import {app}: {exc}"
    if isinstance(exc, OperationFailed) or command_line.is_startup_failure(exc):
        return str(exc)
    return None


if __name__ == "__main__":
    sys.exit(main())

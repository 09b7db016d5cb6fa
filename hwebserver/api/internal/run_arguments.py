"""run()'s arguments, declared once (in the style of declarations.py, as the settings are):
name, type, default, meaning, and command-line form.

Everything that lists run()'s arguments reads this class: run() (its docstring's argument
list), the command line (`hwebserver APP --port ...` builds its options from the fields), and
the supervisor's option builder (it receives one typed `RunArguments`). run() itself keeps a
literal signature, as a Python function must for help() and type checkers; a test holds that
signature to these fields, name by name, default by default.
"""

from __future__ import annotations

import argparse
import dataclasses
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .declarations import CommandLineForm, Typed, add_command_line_flags, declare, declared

# What a None means for the two size limits (Houdini's signature has None defaults).
DEFAULT_MAX_REQUEST_SIZE = 3 * 1024**3
DEFAULT_MAX_IN_MEMORY_UPLOAD = 2_621_440


def parse_extra_port(text: str) -> Any:
    """--ports NAME, NAME=PORT or PORT: an entry of run(ports=...)."""
    name, sep, number = text.partition("=")
    if sep:
        return (name, int(number))
    return int(text) if text.isdigit() else text


def parse_verbosity(text: str) -> int:
    levels = {"low": 0, "medium": 1, "high": 2}
    try:
        return levels[text.lower()]
    except KeyError:
        raise argparse.ArgumentTypeError("choose low, medium or high") from None


@dataclass(frozen=True)
class RunArguments:
    """The arguments of one run() call, as given (None where a default is decided later)."""

    port: int = field(
        default=8008,
        metadata=declare(
            "the main port. Busy or not permitted, with no fallback below: OperationFailed "
            "naming the port and the reason. Like `max_port`, `workers`, `max_num_threads` and "
            "the sizes, a whole number (a string of digits is taken); anything else is a "
            "ValueError naming the argument and the value.",
            CommandLineForm("--port", "main port (default 8008)", parse=int),
        ),
    )
    debug: bool = field(
        default=False,
        metadata=declare(
            "log every request and handler traceback, put tracebacks in 500 bodies, and (in a "
            "blocking run) reload on source changes unless `reload_source_changes=False`.",
            CommandLineForm(
                "--debug",
                "log every request and traceback, tracebacks in 500 bodies, reload on changes; "
                "--no-debug turns off the debug=True of the script's run()",
                kind=Typed.EITHER,
            ),
        ),
    )
    max_num_threads: int = field(
        default=4,
        metadata=declare(
            "the handler threads of each worker, where plain handlers, API functions, "
            "`URLHandler.handle` and WSGI apps run (never on the event loop).",
            CommandLineForm(
                "--max-num-threads",
                "plain handlers running at once per worker (default 4)",
                parse=int,
            ),
        ),
    )
    in_background: bool | None = field(
        default=None,
        metadata=declare(
            "True serves from a thread of this process and returns at once; False blocks until "
            "SIGINT/SIGTERM or `requestShutdown()`; None: False in a plain script, True in an "
            "interactive or GUI host.",
        ),
    )
    reload_source_changes: bool | None = field(
        default=None,
        metadata=declare(
            "replace the workers when a loaded source file of the application changes (None: "
            "follow `debug` in a blocking run).",
            CommandLineForm(
                "--reload",
                "reload when a source file of the application changes (default: with --debug)",
                kind=Typed.EITHER,
            ),
        ),
    )
    max_in_memory_file_upload_size: int | None = field(
        default=None,
        metadata=declare(
            "uploaded files larger than this (None: 2.5 MiB) go to a temp file.",
            CommandLineForm(
                "--max-in-memory-file-upload-size",
                "uploads up to this many bytes stay in memory (default 2.5 MiB)",
                parse=int,
            ),
        ),
    )
    max_request_size: int | None = field(
        default=None,
        metadata=declare(
            "a larger request (None: 3 GiB) gets 413.",
            CommandLineForm(
                "--max-request-size", "largest request in bytes (default 3 GiB)", parse=int
            ),
        ),
    )
    settings: str | Mapping[str, Any] | None = field(
        default=None,
        metadata=declare(
            "a dict, or a Python, .json or .toml file, of UPPER-CASE settings (see the "
            "settings reference); an unknown key in a dict is a ValueError.",
            CommandLineForm("--settings", "settings file (UPPER-CASE names)"),
        ),
    )
    ports: Iterable[Any] = field(
        default=(),
        metadata=declare(
            "extra listeners: names, numbers, or (name, number) pairs.",
            CommandLineForm(
                "--ports",
                "an extra named port (repeatable); without =PORT the OS picks it",
                kind=Typed.REPEAT,
                parse=parse_extra_port,
                metavar="NAME[=PORT]",
            ),
        ),
    )
    verbosity: Any = field(
        default=None,
        metadata=declare(
            "webServerVerbosity.Low (the default: start-up, reloads and their outcome, warnings "
            "and errors), Medium (adds the workers' lifecycle), High (adds an access line per "
            "request); the documentation's Logs page details each level.",
            CommandLineForm("--verbosity", "low (default), medium or high", parse=parse_verbosity),
        ),
    )
    port_callback: Callable[[str, int], Any] | None = field(
        default=None,
        metadata=declare(
            'called as `port_callback(port_name, port)` once per bound listener ("main" for the '
            "main port), in this process, before serving starts; its exceptions are logged.",
        ),
    )
    max_port: int | None = field(
        default=None,
        metadata=declare(
            "when `port` cannot be bound, try `port+1` ... `max_port`; logged as a warning naming "
            "both ports.",
            CommandLineForm("--max-port", "if PORT is busy, try PORT+1..MAX_PORT", parse=int),
        ),
    )
    allow_system_port: bool = field(
        default=False,
        metadata=declare(
            "when no port of the range binds, let the OS pick one; logged as a warning naming "
            "both ports.",
            CommandLineForm(
                "--allow-system-port",
                "if no port of the range binds, let the OS pick one",
                Typed.SWITCH,
            ),
        ),
    )
    workers: int = field(
        default=1,
        metadata=declare(
            "worker processes of a blocking run; 0: one per CPU.",
            CommandLineForm("--workers", "worker processes (default 1; 0: one per CPU)", parse=int),
            extension=True,
        ),
    )
    address: str | None = field(
        default=None,
        metadata=declare(
            'the main port\'s bind address (None: "127.0.0.1"; "0.0.0.0" or "::" to serve other '
            "machines).",
            CommandLineForm(
                "--address",
                "bind address of the main port (default 127.0.0.1; 0.0.0.0 or :: for all)",
                aliases=("--host",),
            ),
            extension=True,
        ),
    )
    supervisor: bool = field(
        default=True,
        metadata=declare(
            "True: a supervisor process keeps worker processes serving (handlers see a "
            "worker's pid and state). False: this process serves in the foreground itself, as "
            "Houdini does (handlers see its pid and its one module state); a reload re-executes "
            "it in place with its sockets. The environment variable `HWEBSERVER_SUPERVISOR=0` "
            "(or `1`) chooses for a script that does not say; `--supervisor`/`--no-supervisor` "
            "typed on the command line win over both. Ignored with `in_background=True`.",
            CommandLineForm(
                "--supervisor",
                "--no-supervisor: this process serves itself, as Houdini does (its pid and "
                "module state in handlers); reloads re-execute it in place",
                kind=Typed.EITHER,
            ),
            extension=True,
        ),
    )

    def __post_init__(self) -> None:
        """Each argument checked here, before anything is bound, with a message naming it and
        the value given: `run(port="abc")` is an error about `port`, not about int()."""
        port = whole_number("port", self.port, minimum=0)
        object.__setattr__(self, "port", port)
        if self.max_port is not None:
            max_port = whole_number("max_port", self.max_port, minimum=0)
            if port and max_port < port:
                raise ValueError(f"run(): max_port {max_port} is below port {port}")
            object.__setattr__(self, "max_port", max_port)
        object.__setattr__(self, "workers", whole_number("workers", self.workers, minimum=0))
        threads = whole_number("max_num_threads", self.max_num_threads, minimum=0)
        object.__setattr__(self, "max_num_threads", threads)
        for size in ("max_request_size", "max_in_memory_file_upload_size"):
            if getattr(self, size) is not None:
                object.__setattr__(self, size, whole_number(size, getattr(self, size), minimum=0))

    @classmethod
    def from_mapping(cls, given: Mapping[str, Any]) -> RunArguments:
        return cls(**{name: given[name] for name in argument_names() if name in given})


def whole_number(name: str, value: Any, minimum: int) -> int:
    """`value` as an int of at least `minimum`; a string of digits is taken (a port read from
    the environment), a bool or a float is not (52141.5 is no port)."""
    number = value
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValueError(f"run(): {name} must be a whole number, got {value!r}")
    if number < minimum:
        raise ValueError(f"run(): {name} must be {minimum} or more, got {value!r}")
    return number


def argument_names() -> list[str]:
    return [item.name for item in dataclasses.fields(RunArguments)]


def describe_arguments() -> str:
    """The argument list of run()'s docstring, in declaration order."""
    lines = []
    for item in dataclasses.fields(RunArguments):
        meaning = declared(item)
        extension = " (extension)" if meaning.extension else ""
        text = f"`{item.name}`{extension}, default `{item.default!r}`: "
        lines.append(
            textwrap.fill(text + meaning.doc, 92, initial_indent="- ", subsequent_indent="  ")
        )
    return "\n".join(lines)


def add_command_line_options(parser: argparse.ArgumentParser) -> None:
    """One option per argument that has a command-line form; its dest is the argument's name."""
    add_command_line_flags(parser, RunArguments)
    parser.add_argument(
        "--bind",
        action=BindAction,
        metavar="HOST:PORT",
        help="address and port of the main port in one (gunicorn's spelling): "
        "0.0.0.0:8000, [::]:8000, :8000",
    )


def parse_bind(text: str) -> tuple[str | None, int]:
    """--bind HOST:PORT, [IPv6]:PORT or :PORT -> (address or None, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return (host or None), int(port)


class BindAction(argparse.Action):
    """--bind sets both run() arguments it stands for: `address` and `port`."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        try:
            host, port = parse_bind(str(values))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        if host is not None:
            namespace.address = host
        namespace.port = port

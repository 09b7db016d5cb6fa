"""The options, pinned: every command-line option, run()'s keyword arguments with their
defaults, every setting with its kind, default, scope and meaning, and the error messages of
a wrong value, exactly as they were before the options were declared in one style.

A change to any of them is a change users see (a flag, a default, a message): it shows here
first, and this file changes with it on purpose.
"""

from __future__ import annotations

import contextlib
import inspect
import io
from collections.abc import Callable
from typing import Any

import pytest

import hwebserver
from hwebserver.__main__ import build_parser
from hwebserver.api import settings as settings_module
from hwebserver.api.internal import settings_sources
from hwebserver.api.internal.run_arguments import RunArguments

PARSER_OPTIONS = [
    (("-h", "--help"), "help", "_HelpAction", None, None, None, "show this help message and exit"),
    (
        ("--version",),
        "version",
        "_VersionAction",
        None,
        None,
        None,
        "show program's version number and exit",
    ),
    (
        (),
        "app",
        "_StoreAction",
        None,
        "APP",
        None,
        "Python file or module registering handlers; MODULE:ATTR (or FILE.py:ATTR) serves the WSGI "
        "or ASGI application ATTR of it at /",
    ),
    (("--port",), "port", "_StoreAction", "int", None, None, "main port (default 8008)"),
    (
        ("--debug", "--no-debug"),
        "debug",
        "BooleanOptionalAction",
        None,
        None,
        None,
        "log every request and traceback, tracebacks in 500 bodies, reload on changes; --no-debug "
        "turns off the debug=True of the script's run()",
    ),
    (
        ("--max-num-threads",),
        "max_num_threads",
        "_StoreAction",
        "int",
        None,
        None,
        "plain handlers running at once per worker (default 4)",
    ),
    (
        ("--reload", "--no-reload"),
        "reload_source_changes",
        "BooleanOptionalAction",
        None,
        None,
        None,
        "reload when a source file of the application changes (default: with --debug)",
    ),
    (
        ("--max-in-memory-file-upload-size",),
        "max_in_memory_file_upload_size",
        "_StoreAction",
        "int",
        None,
        None,
        "uploads up to this many bytes stay in memory (default 2.5 MiB)",
    ),
    (
        ("--max-request-size",),
        "max_request_size",
        "_StoreAction",
        "int",
        None,
        None,
        "largest request in bytes (default 3 GiB)",
    ),
    (
        ("--settings",),
        "settings",
        "_StoreAction",
        None,
        None,
        None,
        "settings file (UPPER-CASE names)",
    ),
    (
        ("--ports",),
        "ports",
        "_AppendAction",
        "parse_extra_port",
        "NAME[=PORT]",
        None,
        "an extra named port (repeatable); without =PORT the OS picks it",
    ),
    (
        ("--verbosity",),
        "verbosity",
        "_StoreAction",
        "parse_verbosity",
        None,
        None,
        "low (default), medium or high",
    ),
    (
        ("--max-port",),
        "max_port",
        "_StoreAction",
        "int",
        None,
        None,
        "if PORT is busy, try PORT+1..MAX_PORT",
    ),
    (
        ("--allow-system-port",),
        "allow_system_port",
        "_StoreTrueAction",
        None,
        None,
        None,
        "if no port of the range binds, let the OS pick one",
    ),
    (
        ("--workers",),
        "workers",
        "_StoreAction",
        "int",
        None,
        None,
        "worker processes (default 1; 0: one per CPU)",
    ),
    (
        ("--address", "--host"),
        "address",
        "_StoreAction",
        None,
        None,
        None,
        "bind address of the main port (default 127.0.0.1; 0.0.0.0 or :: for all)",
    ),
    (
        ("--supervisor", "--no-supervisor"),
        "supervisor",
        "BooleanOptionalAction",
        None,
        None,
        None,
        "--no-supervisor: this process serves itself, as Houdini does (its pid and module state in "
        "handlers); reloads re-execute it in place",
    ),
    (
        ("--bind",),
        "bind",
        "BindAction",
        None,
        "HOST:PORT",
        None,
        "address and port of the main port in one (gunicorn's spelling): 0.0.0.0:8000, [::]:8000, "
        ":8000",
    ),
    (
        ("--start-method",),
        "setting:START_METHOD",
        "_StoreAction",
        "str",
        None,
        ("fork", "spawn"),
        "how workers start: 'fork' (from the supervisor, sharing what the script built before run()) "
        "or 'spawn' (each runs the service's command line anew: nothing is forked, for processes "
        "with native threads such as hython); 'spawn' by itself when hou is imported at run() "
        "(setting START_METHOD, default 'fork')",
    ),
    (
        ("--admin-port",),
        "admin_port",
        "_StoreAction",
        "int",
        None,
        None,
        "open a port named 'admin' serving /metrics, /livez and /readyz (ADMIN_ENDPOINTS)",
    ),
    (
        ("--pid-file",),
        "pid_file",
        "_StoreAction",
        None,
        None,
        None,
        "write the supervisor's pid (and the admin URL) here; `hwebserver status|reload|stop "
        "--pid-file FILE` find the service by it",
    ),
]

RUN_SIGNATURE = (
    "(port: 'int' = 8008, debug: 'bool' = False, max_num_threads: 'int' = 4, in_backg"
    "round: 'bool | None' = None, reload_source_changes: 'bool | None' = None, max_in"
    "_memory_file_upload_size: 'int | None' = None, max_request_size: 'int | None' = "
    "None, settings: 'str | Mapping[str, Any] | None' = None, ports: 'Iterable[Any]' "
    "= (), verbosity: 'Any' = None, port_callback: 'Callable[[str, int], Any] | None'"
    " = None, max_port: 'int | None' = None, allow_system_port: 'bool' = False, worke"
    "rs: 'int' = 1, address: 'str | None' = None, supervisor: 'bool' = True) -> 'None"
    "'"
)

SETTINGS = [
    ("PORT", "int", None, "port", "port number of the listener", (), None),
    ("MAX_PORT", "int", None, "port", "try PORT..MAX_PORT in order", (), None),
    ("ALLOW_SYSTEM_PORT", "bool", False, "port", "fall back to an OS-picked port", (), None),
    ("ADDRESS", "str", "127.0.0.1", "port", "bind address", (), None),
    ("IPV6", "bool", False, "port", "bind the IPv6 wildcard/loopback when no ADDRESS", (), None),
    ("ALLOWED_HOSTS", "list", None, "port", "Host header allow-list; others get 400", (), None),
    ("USE_X_FORWARDED_HOST", "bool", False, "port", "trust X-Forwarded-Host/-Proto", (), None),
    ("LOG_FILE", "str", None, "port", "also write this port's log lines to a file", (), None),
    ("MIN_LOG_SEVERITY", "severity", None, "port", "lowest severity written to LOG_FILE", (), None),
    ("SSL_CERTIFICATE", "str", None, "port", "PEM certificate chain: serve TLS", (), None),
    ("SSL_CERTIFICATE_KEY", "str", None, "port", "PEM private key", (), None),
    ("SSL_DH_PARAMS", "str", None, "port", "PEM Diffie-Hellman parameters", (), None),
    (
        "SSL_CIPHERS",
        "str",
        None,
        "port",
        "TLS 1.2 cipher suites, an OpenSSL list (default: AEAD suites with forward secrecy)",
        (),
        None,
    ),
    ("SSL_VERIFY_PEER", "bool", False, "port", "require a client certificate", (), None),
    (
        "SSL_CLIENT_CA",
        "str",
        None,
        "port",
        "PEM CA certificates a client certificate must chain to (default: the system's)",
        (),
        None,
    ),
    ("SSL_REDIRECT", "bool", False, "port", "redirect plain HTTP to HTTPS", (), None),
    ("SSL_REDIRECT_HOST", "str", None, "port", "host to redirect to", (), None),
    ("SSL_REDIRECT_EXEMPT", "list", None, "port", "path regexes not redirected", (), None),
    ("SECURE_HSTS_SECONDS", "int", 0, "port", "Strict-Transport-Security max-age", (), None),
    ("SECURE_HSTS_INCLUDE_SUBDOMAINS", "bool", False, "port", "HSTS includeSubDomains", (), None),
    ("SECURE_HSTS_PRELOAD", "bool", False, "port", "HSTS preload", (), None),
    ("CORS_ORIGIN_WHITELIST", "list", None, "port", "allowed CORS origins ('*': all)", (), None),
    (
        "ADMIN_ENDPOINTS",
        "bool",
        False,
        "port",
        "serve /metrics (Prometheus), /livez and /readyz on this port, with no user handler",
        (),
        None,
    ),
    ("MAX_REQUEST_LINE", "int", 8192, "server", "longest request line (else 414)", (), None),
    ("MAX_HEADER_SIZE", "int", 65536, "server", "largest request head (else 431)", (), None),
    ("MAX_HEADER_COUNT", "int", 100, "server", "most header fields (else 431)", (), None),
    ("HEADER_TIMEOUT", "float", 10.0, "server", "seconds to receive a head (else 408)", (), None),
    ("KEEPALIVE_TIMEOUT", "float", 5.0, "server", "idle keep-alive connection lifetime", (), None),
    (
        "SEND_TIMEOUT",
        "float",
        60.0,
        "server",
        "seconds a response may wait on a client that reads none of it (then closed)",
        (),
        None,
    ),
    ("MAX_PIPELINED", "int", 32, "server", "parsed requests queued per connection", (), None),
    ("BODY_SPOOL_SIZE", "int", 1048576, "server", "a body larger than this goes to disk", (), None),
    (
        "FORM_MEMORY_SIZE",
        "int",
        33554432,
        "server",
        "most bytes one form keeps in memory: later files go to disk, more fields are 413",
        (),
        None,
    ),
    (
        "WRITE_BUFFER_SIZE",
        "int",
        262144,
        "server",
        "per-connection write high-water mark",
        (),
        None,
    ),
    ("GRACEFUL_TIMEOUT", "float", 30.0, "server", "seconds to finish in-flight work", (), None),
    (
        "SHUTDOWN_DELAY",
        "float",
        0.0,
        "server",
        "seconds /readyz answers 503 after TERM before draining starts (load balancers stop first)",
        (),
        None,
    ),
    (
        "ACCESS_LOG_FORMAT",
        "str",
        "text",
        "server",
        "access lines as 'text' or 'json' (one object a line, with a request id)",
        ("text", "json"),
        None,
    ),
    (
        "WORKER_TIMEOUT",
        "float",
        30.0,
        "server",
        "heartbeat silence before a worker is replaced (not used without a supervisor)",
        (),
        None,
    ),
    (
        "HANDLER_QUEUE_WAIT",
        "float",
        10.0,
        "server",
        "seconds a call may wait for a busy handler thread before a WARNING naming the handlers that "
        "hold them (with their stacks) and /readyz 503 until they catch up; 0: not watched",
        (),
        None,
    ),
    (
        "WORKER_BOOT_TIMEOUT",
        "float",
        60.0,
        "server",
        "seconds a new worker has to be READY (without a supervisor: the new code has to reach run() "
        "in a reload's check)",
        (),
        None,
    ),
    (
        "MAX_REQUESTS",
        "int",
        0,
        "server",
        "recycle a worker after this many requests (not without a supervisor)",
        (),
        None,
    ),
    ("MAX_REQUESTS_JITTER", "int", 0, "server", "random extra requests before recycling", (), None),
    (
        "MAX_WORKER_MEMORY",
        "int",
        0,
        "server",
        "recycle a worker whose RSS stays above this (not without a supervisor)",
        (),
        None,
    ),
    (
        "START_METHOD",
        "str",
        "fork",
        "server",
        "how workers start: 'fork' (from the supervisor, sharing what the script built before run()) "
        "or 'spawn' (each runs the service's command line anew: nothing is forked, for processes "
        "with native threads such as hython); 'spawn' by itself when hou is imported at run()",
        ("fork", "spawn"),
        "--start-method",
    ),
    (
        "WEBSOCKET_MAX_MESSAGE_SIZE",
        "int",
        16777216,
        "server",
        "largest WebSocket message (else close 1009)",
        (),
        None,
    ),
    (
        "WEBSOCKET_PING_INTERVAL",
        "optional_float",
        None,
        "server",
        "send a ping after this many idle seconds",
        (),
        None,
    ),
    ("WEBSOCKET_PING_TIMEOUT", "float", 20.0, "server", "seconds to wait for the pong", (), None),
]

RUN_DOC_ARGUMENTS = (
    "- `port`, default `8008`: the main port. Busy or not permitted, with no fallback below:\n"
    "  OperationFailed naming the port and the reason. Like `max_port`, `workers`,\n"
    "  `max_num_threads` and the sizes, a whole number (a string of digits is taken); anything\n"
    "  else is a ValueError naming the argument and the value.\n"
    "- `debug`, default `False`: log every request and handler traceback, put tracebacks in 500\n"
    "  bodies, and (in a blocking run) reload on source changes unless\n"
    "  `reload_source_changes=False`.\n"
    "- `max_num_threads`, default `4`: the handler threads of each worker, where plain handlers,\n"
    "  API functions, `URLHandler.handle` and WSGI apps run (never on the event loop).\n"
    "- `in_background`, default `None`: True serves from a thread of this process and returns at\n"
    "  once; False blocks until SIGINT/SIGTERM or `requestShutdown()`; None: False in a plain\n"
    "  script, True in an interactive or GUI host.\n"
    "- `reload_source_changes`, default `None`: replace the workers when a loaded source file of\n"
    "  the application changes (None: follow `debug` in a blocking run).\n"
    "- `max_in_memory_file_upload_size`, default `None`: uploaded files larger than this (None:\n"
    "  2.5 MiB) go to a temp file.\n"
    "- `max_request_size`, default `None`: a larger request (None: 3 GiB) gets 413.\n"
    "- `settings`, default `None`: a dict, or a Python, .json or .toml file, of UPPER-CASE\n"
    "  settings (see the settings reference); an unknown key in a dict is a ValueError.\n"
    "- `ports`, default `()`: extra listeners: names, numbers, or (name, number) pairs.\n"
    "- `verbosity`, default `None`: webServerVerbosity.Low (the default: start-up, reloads and\n"
    "  their outcome, warnings and errors), Medium (adds the workers' lifecycle), High (adds an\n"
    "  access line per request); the documentation's Logs page details each level.\n"
    "- `port_callback`, default `None`: called as `port_callback(port_name, port)` once per bound\n"
    '  listener ("main" for the main port), in this process, before serving starts; its\n'
    "  exceptions are logged.\n"
    "- `max_port`, default `None`: when `port` cannot be bound, try `port+1` ... `max_port`;\n"
    "  logged as a warning naming both ports.\n"
    "- `allow_system_port`, default `False`: when no port of the range binds, let the OS pick\n"
    "  one; logged as a warning naming both ports.\n"
    "- `workers` (extension), default `1`: worker processes of a blocking run; 0: one per CPU.\n"
    '- `address` (extension), default `None`: the main port\'s bind address (None: "127.0.0.1";\n'
    '  "0.0.0.0" or "::" to serve other machines).\n'
    "- `supervisor` (extension), default `True`: True: a supervisor process keeps worker\n"
    "  processes serving (handlers see a worker's pid and state). False: this process serves in\n"
    "  the foreground itself, as Houdini does (handlers see its pid and its one module state); a\n"
    "  reload re-executes it in place with its sockets. The environment variable\n"
    "  `HWEBSERVER_SUPERVISOR=0` (or `1`) chooses for a script that does not say;\n"
    "  `--supervisor`/`--no-supervisor` typed on the command line win over both. Ignored with\n"
    "  `in_background=True`.\n"
)

ERRORS: list[tuple[Callable[[], Any], str]] = [
    (lambda: RunArguments(port="abc"), "run(): port must be a whole number, got 'abc'"),
    (lambda: RunArguments(port=80, max_port=10), "run(): max_port 10 is below port 80"),
    (lambda: RunArguments(workers=-1), "run(): workers must be 0 or more, got -1"),
    (
        lambda: RunArguments(max_request_size=1.5),
        "run(): max_request_size must be a whole number, got 1.5",
    ),
    (
        lambda: settings_module.validate({"GRACEFUL_TIMOUT": 1}),
        "unknown setting 'GRACEFUL_TIMOUT' (did you mean 'GRACEFUL_TIMEOUT'?)",
    ),
    (lambda: settings_module.validate({"ADDRESS": 1}), "setting ADDRESS: expected str, got 1"),
    (
        lambda: settings_module.validate({"START_METHOD": "x"}),
        "setting START_METHOD: expected one of fork, spawn, got 'x'",
    ),
    (
        lambda: settings_module.validate({"GRACEFUL_TIMEOUT": 1}, scope="port"),
        "unknown setting 'GRACEFUL_TIMEOUT' for port settings",
    ),
    (
        lambda: settings_sources.environment_settings({"HWEBSERVER_MAX_REQUESTS": "many"}),
        "environment variable HWEBSERVER_MAX_REQUESTS: setting MAX_REQUESTS: expected int, "
        "got 'many'",
    ),
    (
        lambda: settings_sources.load_settings(3),  # type: ignore[arg-type]
        "settings must be a dict or a file path, not int",
    ),
]


def test_the_command_line_has_exactly_these_options() -> None:
    found = [
        (
            tuple(action.option_strings),
            action.dest,
            type(action).__name__,
            getattr(action.type, "__name__", action.type),
            action.metavar,
            action.choices,
            action.help,
        )
        for action in build_parser()._actions
    ]
    assert found == PARSER_OPTIONS


def test_run_has_exactly_these_keyword_arguments_and_defaults() -> None:
    assert str(inspect.signature(hwebserver.run)) == "".join(RUN_SIGNATURE)


def test_the_settings_are_exactly_these_with_their_defaults() -> None:
    found = [
        (o.name, o.kind, o.default, o.scope, o.doc, o.choices, o.flag)
        for o in settings_module.OPTIONS.values()
    ]
    assert found == SETTINGS


def test_run_documents_its_arguments_as_before() -> None:
    assert hwebserver.run.__doc__ is not None
    assert "".join(RUN_DOC_ARGUMENTS) in hwebserver.run.__doc__


@pytest.mark.parametrize("index", range(len(ERRORS)))
def test_a_wrong_value_is_named_as_before(index: int) -> None:
    call, message = ERRORS[index]
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (["--verbosity", "loud"], "argument --verbosity: choose low, medium or high"),
        (["--bind", "nope"], "argument --bind: expected HOST:PORT, got 'nope'"),
        (["--port", "x"], "argument --port: invalid int value: 'x'"),
    ],
)
def test_a_wrong_option_is_refused_as_before(typed: list[str], message: str) -> None:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit):
        build_parser().parse_args(["app.py", *typed])
    assert stderr.getvalue().rstrip().endswith(f"hwebserver: error: {message}")


def test_typed_options_parse_to_the_same_values() -> None:
    given = vars(
        build_parser().parse_args(
            [
                "app.py",
                "--bind",
                "[::]:9000",
                "--verbosity",
                "HIGH",
                "--ports",
                "7",
                "--ports",
                "lab",
                "--start-method",
                "spawn",
                "--allow-system-port",
                "--no-debug",
            ]
        )
    )
    assert given == {
        "app": "app.py",
        "address": "::",
        "port": 9000,
        "verbosity": 2,
        "ports": [7, "lab"],
        "setting:START_METHOD": "spawn",
        "allow_system_port": True,
        "debug": False,
    }


def test_every_option_is_declared_in_the_one_style() -> None:
    """run()'s arguments, the settings and the command line's serving options: each a field
    whose metadata is a `Declared`, from which its flag (if any) is made."""
    import dataclasses

    from hwebserver.api.internal.declarations import Declared, declared
    from hwebserver.api.settings import PortSettings, ServerSettings
    from hwebserver.control_command import ServingOptions

    flags = {action.dest: action for action in build_parser()._actions}
    for options, prefix in [
        (RunArguments, ""),
        (PortSettings, "setting:"),
        (ServerSettings, "setting:"),
        (ServingOptions, ""),
    ]:
        for item in dataclasses.fields(options):
            meaning = declared(item)
            assert isinstance(meaning, Declared), item.name
            form = meaning.command_line
            if form is not None:
                assert form.flag in flags[prefix + item.name].option_strings, item.name

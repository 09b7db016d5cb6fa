"""Every setting the server understands, declared once, with its type, default and scope.

Settings arrive from `run(settings=...)`, from `setSettingsForPort()`, and (the server-wide
ones) from HWEBSERVER_<NAME> environment variables, which win over a settings file and yield
to a dict given to run(). `run()` takes a dict
or a settings file: Python (its UPPER-CASE names, in the style of a Django settings module),
`.json` (an object) or `.toml` (a table). A file may hold names hwebserver does not know (a
Django project's DEBUG, INSTALLED_APPS...): they are ignored with one warning naming the file
and the names. A dict is stricter: an unknown key is an error suggesting the closest name.
Port-scoped keys configure one listener; server-scoped keys configure the whole server.
Files and environment variables are read by internal/settings_sources.py; each setting is a
field declared in the style of internal/declarations.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .enums import webServerSeverity
from .internal.declarations import CommandLineForm, add_command_line_flags, declare, declared


class Kind(StrEnum):
    """What a setting's value is checked as: made from the annotation of its field."""

    INT = "int"
    FLOAT = "float"
    OPTIONAL_FLOAT = "optional_float"  # a float, or None (not set)
    BOOL = "bool"
    STR = "str"
    LIST = "list"  # of str; a str alone is a list of one
    SEVERITY = "severity"  # a webServerSeverity, by name or value


@dataclass(frozen=True)
class Option:
    """A setting as validation, the command line and the settings page see it; made from the
    fields of PortSettings and ServerSettings, where every setting is declared."""

    name: str
    kind: Kind
    default: Any
    scope: str  # "port" or "server"
    doc: str
    choices: tuple[str, ...] = ()  # for a "str" option: the values it may take
    flag: str | None = None  # its command-line option (`hwebserver APP --start-method spawn`)


@dataclass(frozen=True)
class PortSettings:
    """One listener's settings, declared once: the annotation is the type, the field's
    default the default, its metadata the meaning. `PortSettings.of(settings)` reads a port's
    validated settings dict typed; OPTIONS lists these fields as the per-port settings."""

    PORT: int | None = field(default=None, metadata=declare("port number of the listener"))
    MAX_PORT: int | None = field(default=None, metadata=declare("try PORT..MAX_PORT in order"))
    ALLOW_SYSTEM_PORT: bool = field(
        default=False, metadata=declare("fall back to an OS-picked port")
    )
    ADDRESS: str | None = field(default="127.0.0.1", metadata=declare("bind address"))
    IPV6: bool = field(
        default=False, metadata=declare("bind the IPv6 wildcard/loopback when no ADDRESS")
    )
    ALLOWED_HOSTS: list[str] | None = field(
        default=None, metadata=declare("Host header allow-list; others get 400")
    )
    USE_X_FORWARDED_HOST: bool = field(
        default=False, metadata=declare("trust X-Forwarded-Host/-Proto")
    )
    LOG_FILE: str | None = field(
        default=None, metadata=declare("also write this port's log lines to a file")
    )
    MIN_LOG_SEVERITY: webServerSeverity | None = field(
        default=None, metadata=declare("lowest severity written to LOG_FILE")
    )
    SSL_CERTIFICATE: str | None = field(
        default=None, metadata=declare("PEM certificate chain: serve TLS")
    )
    SSL_CERTIFICATE_KEY: str | None = field(default=None, metadata=declare("PEM private key"))
    SSL_DH_PARAMS: str | None = field(
        default=None, metadata=declare("PEM Diffie-Hellman parameters")
    )
    SSL_CIPHERS: str | None = field(
        default=None,
        metadata=declare(
            "TLS 1.2 cipher suites, an OpenSSL list (default: AEAD suites with forward secrecy)"
        ),
    )
    SSL_VERIFY_PEER: bool = field(default=False, metadata=declare("require a client certificate"))
    SSL_CLIENT_CA: str | None = field(
        default=None,
        metadata=declare(
            "PEM CA certificates a client certificate must chain to (default: the system's)"
        ),
    )
    SSL_REDIRECT: bool = field(default=False, metadata=declare("redirect plain HTTP to HTTPS"))
    SSL_REDIRECT_HOST: str | None = field(default=None, metadata=declare("host to redirect to"))
    SSL_REDIRECT_EXEMPT: list[str] | None = field(
        default=None, metadata=declare("path regexes not redirected")
    )
    SECURE_HSTS_SECONDS: int = field(
        default=0, metadata=declare("Strict-Transport-Security max-age")
    )
    SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = field(
        default=False, metadata=declare("HSTS includeSubDomains")
    )
    SECURE_HSTS_PRELOAD: bool = field(default=False, metadata=declare("HSTS preload"))
    CORS_ORIGIN_WHITELIST: list[str] | None = field(
        default=None, metadata=declare("allowed CORS origins ('*': all)")
    )
    ADMIN_ENDPOINTS: bool = field(
        default=False,
        metadata=declare(
            "serve /metrics (Prometheus), /livez and /readyz on this port, with no user handler"
        ),
    )

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> PortSettings:
        """A port's validated settings (validate()), typed; what is not set (or None) is the
        default, and a name that is not a port setting is left out, as a reader of the dict
        would ignore it."""
        return cls(
            **{
                name: value
                for name, value in settings.items()
                if value is not None and name in _PORT_FIELDS
            }
        )


_PORT_FIELDS = frozenset(declared.name for declared in dataclasses.fields(PortSettings))


@dataclass(frozen=True)
class ServerSettings:
    """The whole server's settings (extensions), declared once: the annotation is the type,
    the field's default the default, its metadata the meaning. A worker reads them typed
    (`config.server.GRACEFUL_TIMEOUT`); OPTIONS lists them beside the per-port settings."""

    MAX_REQUEST_LINE: int = field(default=8192, metadata=declare("longest request line (else 414)"))
    MAX_HEADER_SIZE: int = field(default=65536, metadata=declare("largest request head (else 431)"))
    MAX_HEADER_COUNT: int = field(default=100, metadata=declare("most header fields (else 431)"))
    HEADER_TIMEOUT: float = field(
        default=10.0, metadata=declare("seconds to receive a head (else 408)")
    )
    KEEPALIVE_TIMEOUT: float = field(
        default=5.0, metadata=declare("idle keep-alive connection lifetime")
    )
    SEND_TIMEOUT: float = field(
        default=60.0,
        metadata=declare(
            "seconds a response may wait on a client that reads none of it (then closed)"
        ),
    )
    MAX_PIPELINED: int = field(
        default=32, metadata=declare("parsed requests queued per connection")
    )
    BODY_SPOOL_SIZE: int = field(
        default=1048576, metadata=declare("a body larger than this goes to disk")
    )
    FORM_MEMORY_SIZE: int = field(
        default=33554432,
        metadata=declare(
            "most bytes one form keeps in memory: later files go to disk, more fields are 413"
        ),
    )
    WRITE_BUFFER_SIZE: int = field(
        default=262144, metadata=declare("per-connection write high-water mark")
    )
    GRACEFUL_TIMEOUT: float = field(
        default=30.0, metadata=declare("seconds to finish in-flight work")
    )
    SHUTDOWN_DELAY: float = field(
        default=0.0,
        metadata=declare(
            "seconds /readyz answers 503 after TERM before draining starts "
            "(load balancers stop first)"
        ),
    )
    ACCESS_LOG_FORMAT: str = field(
        default="text",
        metadata=declare(
            "access lines as 'text' or 'json' (one object a line, with a request id)",
            choices=("text", "json"),
        ),
    )
    WORKER_TIMEOUT: float = field(
        default=30.0,
        metadata=declare(
            "heartbeat silence before a worker is replaced (not used without a supervisor)"
        ),
    )
    HANDLER_QUEUE_WAIT: float = field(
        default=10.0,
        metadata=declare(
            "seconds a call may wait for a busy handler thread before a WARNING naming "
            "the handlers that hold them (with their stacks) and /readyz 503 until they catch "
            "up; 0: not watched"
        ),
    )
    WORKER_BOOT_TIMEOUT: float = field(
        default=60.0,
        metadata=declare(
            "seconds a new worker has to be READY (without a supervisor: the new code "
            "has to reach run() in a reload's check)"
        ),
    )
    MAX_REQUESTS: int = field(
        default=0,
        metadata=declare("recycle a worker after this many requests (not without a supervisor)"),
    )
    MAX_REQUESTS_JITTER: int = field(
        default=0, metadata=declare("random extra requests before recycling")
    )
    MAX_WORKER_MEMORY: int = field(
        default=0,
        metadata=declare("recycle a worker whose RSS stays above this (not without a supervisor)"),
    )
    START_METHOD: str = field(
        default="fork",
        metadata=declare(
            "how workers start: 'fork' (from the supervisor, sharing what the script "
            "built before run()) or 'spawn' (each runs the service's command line anew: "
            "nothing is forked, for processes with native threads such as hython); "
            "'spawn' by itself when hou is imported at run()",
            CommandLineForm("--start-method", parse=str),
            choices=("fork", "spawn"),
        ),
    )
    WEBSOCKET_MAX_MESSAGE_SIZE: int = field(
        default=16 * 1024 * 1024, metadata=declare("largest WebSocket message (else close 1009)")
    )
    WEBSOCKET_PING_INTERVAL: float | None = field(
        default=None, metadata=declare("send a ping after this many idle seconds")
    )
    WEBSOCKET_PING_TIMEOUT: float = field(
        default=20.0, metadata=declare("seconds to wait for the pong")
    )


# The kind _check_value expects for each annotation a setting may have. A port setting that
# may be unset (None) is checked as its type: None is accepted where the default is None.
_KIND_OF_TYPE = {
    "int": Kind.INT,
    "int | None": Kind.INT,
    "float": Kind.FLOAT,
    "float | None": Kind.OPTIONAL_FLOAT,
    "bool": Kind.BOOL,
    "str": Kind.STR,
    "str | None": Kind.STR,
    "list[str] | None": Kind.LIST,
    "webServerSeverity | None": Kind.SEVERITY,
}


def _option(item: dataclasses.Field[Any], scope: str) -> Option:
    meaning = declared(item)
    form = meaning.command_line
    return Option(
        item.name,
        _KIND_OF_TYPE[str(item.type)],
        item.default,
        scope,
        meaning.doc,
        meaning.choices,
        None if form is None else form.flag,
    )


def _options(declared_in: type, scope: str) -> dict[str, Option]:
    return {item.name: _option(item, scope) for item in dataclasses.fields(declared_in)}


OPTIONS: dict[str, Option] = {
    **_options(PortSettings, "port"),
    **_options(ServerSettings, "server"),
}

ALIASES = {"CORS_ALLOWED_ORIGINS": "CORS_ORIGIN_WHITELIST"}

# The dest of a setting's command-line option: `setting:START_METHOD`, kept apart from run()'s
# arguments (see command_line.py).
SETTING_DEST = "setting:"


def add_command_line_settings(parser: argparse.ArgumentParser) -> None:
    """One option per setting that declares a command-line form, made from its declaration."""
    add_command_line_flags(parser, PortSettings, SETTING_DEST, _describe_flag)
    add_command_line_flags(parser, ServerSettings, SETTING_DEST, _describe_flag)


def _describe_flag(item: dataclasses.Field[Any]) -> str:
    return f"{declared(item).doc} (setting {item.name}, default {item.default!r})"


def typed_settings(given: Mapping[str, Any]) -> dict[str, Any]:
    """The settings among parsed command-line options, by setting name."""
    return {
        key[len(SETTING_DEST) :]: value
        for key, value in given.items()
        if key.startswith(SETTING_DEST)
    }


def check_value(option: Option, value: Any) -> Any:
    kind = option.kind
    if value is None and option.default is None:
        return None
    if kind is Kind.BOOL and isinstance(value, bool):
        return value
    if kind is Kind.INT and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind in (Kind.FLOAT, Kind.OPTIONAL_FLOAT):
        if value is None and kind is Kind.OPTIONAL_FLOAT:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    if kind is Kind.STR and isinstance(value, str):
        if option.choices and value not in option.choices:
            raise ValueError(
                f"setting {option.name}: expected one of {', '.join(option.choices)}, got {value!r}"
            )
        return value
    if kind is Kind.STR and isinstance(value, os.PathLike):
        path = os.fspath(value)  # file settings (LOG_FILE, SSL_*) may be pathlib paths
        if isinstance(path, str):
            return path
    if kind is Kind.LIST:
        if isinstance(value, str):
            return [value]
        if isinstance(value, (list, tuple, set, frozenset)) and all(
            isinstance(v, str) for v in value
        ):
            return list(value)
    if kind is Kind.SEVERITY:
        if isinstance(value, str) and value in webServerSeverity.__members__:
            return webServerSeverity[value]
        if isinstance(value, int) and not isinstance(value, bool):
            if value in set(webServerSeverity):
                return webServerSeverity(value)
    raise ValueError(f"setting {option.name}: expected {kind}, got {value!r}")


log = logging.getLogger("hwebserver")


def known_names(scope: str | None) -> list[str]:
    names = [name for name, option in OPTIONS.items() if scope is None or option.scope == scope]
    return names + [alias for alias, name in ALIASES.items() if name in names]


def closest_name(key: object, scope: str | None = None) -> str | None:
    """The known setting a misspelled key most likely meant, if any is close enough."""
    if not isinstance(key, str):
        return None
    known = known_names(scope)
    matches = difflib.get_close_matches(key.upper(), known, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _unknown_setting(raw_key: object, scope: str | None) -> ValueError:
    where = f" for {scope} settings" if scope else ""
    suggestion = closest_name(raw_key, scope)
    hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
    return ValueError(f"unknown setting {raw_key!r}{where}{hint}")


def validate(settings: Mapping[str, Any], scope: str | None = None) -> dict[str, Any]:
    """Normalised copy of `settings`; an unknown key or a value of the wrong type -> ValueError."""
    result: dict[str, Any] = {}
    for raw_key, value in settings.items():
        key = ALIASES.get(raw_key, raw_key)
        option = OPTIONS.get(key)
        if option is None or (scope is not None and option.scope != scope):
            raise _unknown_setting(raw_key, scope)
        result[key] = check_value(option, value)
    return result


class PortSettingsRegistry:
    """What setSettingsForPort() recorded, per port name ('main' for the main port)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_port: dict[str, dict[str, Any]] = {}

    def update(self, port_name: str, settings: Mapping[str, Any]) -> None:
        checked = validate(settings, scope="port")
        with self._lock:
            self._by_port.setdefault(port_name, {}).update(checked)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: dict(values) for name, values in self._by_port.items()}

    def restore(self, state: Mapping[str, Mapping[str, Any]]) -> None:
        """The settings of a snapshot(), and nothing set since (hwebserver.testing)."""
        with self._lock:
            self._by_port = {name: dict(values) for name, values in state.items()}

    def clear(self) -> None:
        with self._lock:
            self._by_port.clear()


port_settings = PortSettingsRegistry()


def setSettingsForPort(settings: Mapping[str, Any], port_name: str = "") -> None:
    """Set the settings of one listener (see the settings reference for every key).

    Each key is checked now and again by `run()` before anything is bound.

    Args:
        settings: per-port settings (`ADDRESS`, `ALLOWED_HOSTS`, `SSL_CERTIFICATE`,
            `LOG_FILE`, ...).
        port_name: the port: `""` or `"main"` for the main port, else a name given to
            `run(ports=...)`.

    Raises:
        ValueError: not a dict, an unknown or server-wide key (the message suggests the
            closest name), or a value of the wrong type.

    Example:
        ```python
        hwebserver.setSettingsForPort({"ADDRESS": "0.0.0.0", "ALLOWED_HOSTS": [".example.com"]},
                                      "lab")
        hwebserver.run(port=8008, ports=["lab"], in_background=False)
        ```
    """
    if not isinstance(settings, Mapping):
        raise ValueError("setSettingsForPort expects a dict of settings")
    port_settings.update("main" if port_name in ("", "main") else str(port_name), settings)

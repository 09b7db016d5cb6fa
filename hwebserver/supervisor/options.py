"""Turning run()'s arguments and the settings into a worker config and listener specs."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import command_line
from ..api import settings as settings_module
from ..api.enums import webServerVerbosity
from ..api.internal import settings_sources
from ..api.internal.declared import check_declared_ports
from ..api.internal.run_arguments import (
    DEFAULT_MAX_IN_MEMORY_UPLOAD,
    DEFAULT_MAX_REQUEST_SIZE,
    RunArguments,
)
from ..api.routing import MAIN_PORT
from ..worker.common.config import WorkerConfig
from ..worker.common.logs import logger
from ..worker.policies.check import check_port_settings
from .listeners import ListenerSpec, default_address


@dataclass
class RunOptions:
    config: WorkerConfig
    specs: list[ListenerSpec]
    in_background: bool
    reload_source_changes: bool
    workers: int
    port_callback: Callable[[str, int], Any] | None
    # False: this process serves itself in the foreground (foreground/), as Houdini does.
    supervisor: bool = True
    # START_METHOD as given (a settings file, run(settings=...), --start-method); None when
    # not given, so that the supervisor may choose "spawn" by itself (supervisor/start_method.py).
    start_method: str | None = None


SUPERVISOR_ENV = "HWEBSERVER_SUPERVISOR"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def resolve_supervisor(argument: bool) -> bool:
    """--supervisor/--no-supervisor typed on the command line, else HWEBSERVER_SUPERVISOR in
    the environment (a launcher can set it, not the script's arguments), else run()'s own."""
    if command_line.typed("supervisor"):
        return bool(argument)
    text = os.environ.get(SUPERVISOR_ENV, "").strip().lower()
    if not text:
        return bool(argument)
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(
        f"{SUPERVISOR_ENV}={os.environ[SUPERVISOR_ENV]!r}: use 0 (this process serves itself) "
        "or 1 (a supervisor with worker processes)"
    )


def resolve_in_background(in_background: bool | None) -> bool:
    """None: serve in the background inside an interactive or GUI host, block in a script."""
    if in_background is not None:
        return bool(in_background)
    return bool(sys.flags.interactive) or hasattr(sys, "ps1")


def _extra_port_entries(ports: Iterable[Any]) -> list[tuple[str, int | None]]:
    """run(ports=...): a name (its number from setSettingsForPort, or OS-picked), a number (its
    name the decimal string), or a (name, number) pair."""
    entries: list[tuple[str, int | None]] = []
    for entry in ports or ():
        if isinstance(entry, bool):
            raise ValueError(f"invalid port entry {entry!r}")
        if isinstance(entry, int):
            entries.append((str(entry), entry))
        elif isinstance(entry, str):
            entries.append((entry, None))
        elif isinstance(entry, (tuple, list)) and len(entry) == 2:
            entries.append((str(entry[0]), int(entry[1])))
        else:
            raise ValueError(f"invalid port entry {entry!r}: a name, a number or (name, number)")
        if entries[-1][0] in ("", MAIN_PORT):
            raise ValueError("the port name 'main' is reserved for the main port")
    return entries


def _warn_if_setting_replaces_port(main_settings: Mapping[str, Any], port: int) -> None:
    """A PORT setting wins over run(port=...): a client using the other number finds nothing."""
    setting = main_settings.get("PORT")
    if setting is not None and int(setting) != int(port):
        logger.warning("setting PORT %d replaces port %d given to run()", int(setting), port)


def settings_with_environment(
    settings: str | Mapping[str, Any] | None, warn: bool
) -> dict[str, Any]:
    """The settings run() serves with. Precedence: a dict given to run() (code, as run()'s
    other arguments and the command line's options), then HWEBSERVER_<NAME> environment
    variables, then a settings file, then the defaults."""
    loaded = settings_sources.load_settings(settings, warn=warn)
    environment = settings_sources.environment_settings(warn=warn)
    if isinstance(settings, Mapping):
        return {**loaded, **{k: v for k, v in environment.items() if k not in loaded}}
    return {**loaded, **environment}


def build_options(
    arguments: RunArguments,
    warn_settings: bool = True,
    typed_settings: Mapping[str, Any] | None = None,
) -> RunOptions:
    """What one run() call serves with: its arguments, the settings, the per-port settings.
    `typed_settings` (typed on the command line) win over all the others."""
    loaded = settings_with_environment(arguments.settings, warn_settings)
    loaded.update(settings_module.validate(typed_settings or {}))
    per_port = settings_module.port_settings.snapshot()
    server_values = {
        k: v for k, v in loaded.items() if settings_module.OPTIONS[k].scope == "server"
    }
    main_settings = {k: v for k, v in loaded.items() if settings_module.OPTIONS[k].scope == "port"}
    main_settings.update(per_port.get(MAIN_PORT, {}))
    if arguments.address is not None:
        main_settings["ADDRESS"] = arguments.address
    background = resolve_in_background(arguments.in_background)
    if warn_settings:
        _warn_if_setting_replaces_port(main_settings, arguments.port)
    specs = [
        ListenerSpec(
            MAIN_PORT,
            int(main_settings.get("PORT", arguments.port)),
            default_address(main_settings),
            main_settings.get("MAX_PORT", arguments.max_port),
            bool(main_settings.get("ALLOW_SYSTEM_PORT", arguments.allow_system_port)),
            main_settings,
        )
    ]
    for name, number in _extra_port_entries(arguments.ports):
        own = dict(per_port.get(name, {}))
        # An extra port shares the main port's address and CORS list unless it sets its own.
        where = dict(own)
        if "ADDRESS" not in own and not own.get("IPV6"):
            where["ADDRESS"] = specs[0].address
        merged = {"CORS_ORIGIN_WHITELIST": main_settings.get("CORS_ORIGIN_WHITELIST"), **own}
        specs.append(
            ListenerSpec(
                name,
                int(own.get("PORT", number if number is not None else 0)),
                default_address(where),
                own.get("MAX_PORT"),
                bool(own.get("ALLOW_SYSTEM_PORT", False)),
                {k: v for k, v in merged.items() if v is not None},
            )
        )
    for spec in specs:
        check_port_settings(spec.name, spec.settings)
    check_declared_ports(spec.name for spec in specs)
    verbosity = webServerVerbosity.Low if arguments.verbosity is None else arguments.verbosity
    reload_source_changes = arguments.reload_source_changes
    if reload_source_changes is None:
        reload_source_changes = arguments.debug and not background
    worker_count = int(arguments.workers)
    if worker_count < 0:
        raise ValueError("workers must be 0 (one per CPU) or more")
    if worker_count == 0:
        worker_count = os.cpu_count() or 1
    config = WorkerConfig(
        debug=bool(arguments.debug),
        verbosity=int(webServerVerbosity.High if arguments.debug else verbosity),
        max_num_threads=max(1, int(arguments.max_num_threads)),
        max_request_size=int(_or_default(arguments.max_request_size, DEFAULT_MAX_REQUEST_SIZE)),
        max_in_memory_file_upload_size=int(
            _or_default(arguments.max_in_memory_file_upload_size, DEFAULT_MAX_IN_MEMORY_UPLOAD)
        ),
        server=settings_module.ServerSettings(**server_values),
    )
    return RunOptions(
        config,
        specs,
        background,
        bool(reload_source_changes),
        worker_count,
        arguments.port_callback,
        resolve_supervisor(arguments.supervisor),
        server_values.get("START_METHOD"),
    )


def _or_default(value: int | None, default: int) -> int:
    return default if value is None else value

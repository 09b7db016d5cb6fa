"""The options of `hwebserver APP ...`, kept while APP is imported and served.

A Houdini script calls hwebserver.run(...) itself when it is imported. Under the command line
that call is the one server: the options given on the command line are applied over the
script's own run() arguments, and the command line does not start a second server after it.
Without a command line (`python service.py`) nothing here is set and run() is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .api.settings import SETTING_DEST, typed_settings


@dataclass
class CommandLine:
    """Options the user typed (only those), and what happened to them so far."""

    given: dict[str, Any]
    run_called: bool = False
    # APP as typed: start-up warnings name it.
    app: str = ""
    # The command line calls run() itself (APP did not): no run() of the script's was replaced.
    runs_itself: bool = False
    # --admin-port: a named port 'admin' with ADMIN_ENDPOINTS; --pid-file: written by the
    # supervisor (see supervisor/pidfile.py). Not run() arguments: kept apart from `given`.
    admin_port: int | None = None
    pid_file: str | None = None
    # Settings typed as options (`--start-method spawn`): over the settings run() was given.
    settings: dict[str, Any] = field(default_factory=dict)
    # Raised by run() while it set up (options, settings, listeners): the user's input was
    # wrong, so the command line reports it in one line rather than with a traceback.
    startup_failures: list[BaseException] = field(default_factory=list)


_active: list[CommandLine] = []
ADMIN_PORT_NAME = "admin"


def start(given: Mapping[str, Any], app: str = "") -> CommandLine:
    """The command line is running: run() from now on takes `given` over its arguments."""
    options = dict(given)
    settings = typed_settings(options)
    for name in settings:
        del options[SETTING_DEST + name]
    command_line = CommandLine(
        options,
        app=app,
        admin_port=options.pop("admin_port", None),
        pid_file=options.pop("pid_file", None),
        settings=settings,
    )
    _active[:] = [command_line]
    return command_line


def active() -> CommandLine | None:
    return _active[0] if _active else None


def apply(arguments: dict[str, Any]) -> dict[str, Any]:
    """run()'s arguments with the command line's options over them (as is, without one)."""
    command_line = active()
    if command_line is None:
        return arguments
    command_line.run_called = True
    merged = {**arguments, **command_line.given}
    if command_line.admin_port is not None:
        from .api.settings import setSettingsForPort

        setSettingsForPort({"ADMIN_ENDPOINTS": True}, ADMIN_PORT_NAME)
        merged["ports"] = [*(merged.get("ports") or ()), (ADMIN_PORT_NAME, command_line.admin_port)]
    return merged


def typed(name: str) -> bool:
    """Whether run()'s argument `name` was typed on the command line."""
    command_line = active()
    return command_line is not None and name in command_line.given


def settings() -> dict[str, Any]:
    """The settings typed on the command line (none without one)."""
    command_line = active()
    return dict(command_line.settings) if command_line is not None else {}


def overridden_port(arguments: Mapping[str, Any]) -> tuple[int, int] | None:
    """(the script's port, the command line's) when --port replaced another number."""
    command_line = active()
    if command_line is None or command_line.runs_itself or "port" not in command_line.given:
        return None
    script_port, typed_port = arguments.get("port"), command_line.given["port"]
    if script_port is None or script_port == typed_port:
        return None
    return int(script_port), int(typed_port)


def note_startup_failure(exc: BaseException) -> None:
    command_line = active()
    if command_line is not None:
        command_line.startup_failures.append(exc)


def is_startup_failure(exc: BaseException) -> bool:
    command_line = active()
    return command_line is not None and any(exc is seen for seen in command_line.startup_failures)

"""The severity and verbosity enums of Houdini's hwebserver module."""

from __future__ import annotations

import enum


class webServerSeverity(enum.IntEnum):
    """Severity of a log message, as Houdini names it; the module-level names
    `MessageSeverity`, `PromptSeverity`, `WarningSeverity`, `AbortSeverity` and
    `FatalSeverity` are its members. A port's `MIN_LOG_SEVERITY` takes one.

    They map to `logging` levels: Message = INFO, Prompt = 25, Warning = WARNING,
    Abort = ERROR (a handler's exception), Fatal = CRITICAL. Access lines are Message.
    """

    Message = 0
    Prompt = 1
    Warning = 2
    Abort = 3
    Fatal = 4


class webServerVerbosity(enum.IntEnum):
    """How much the server logs (`run(verbosity=...)`, `--verbosity`); each level adds to the
    one before.

    - `Low` (the default): start-up (listeners' URLs, the supervisor's and workers' pids),
      reloads and their outcome, shutdown, warnings and errors with their tracebacks.
    - `Medium`: the lifecycle: workers started, ready, draining, exiting; signals.
    - `High` (also `debug=True`): one access line per request.
    """

    Low = 0
    Medium = 1
    High = 2


MessageSeverity = webServerSeverity.Message
PromptSeverity = webServerSeverity.Prompt
WarningSeverity = webServerSeverity.Warning
AbortSeverity = webServerSeverity.Abort
FatalSeverity = webServerSeverity.Fatal
"""Houdini's module-level aliases of the webServerSeverity members."""

"""The severity and verbosity enums of Houdini's hwebserver module."""

from __future__ import annotations

import enum


class webServerSeverity(enum.IntEnum):
    """Severity of a log message, as Houdini names it."""

    Message = 0
    Prompt = 1
    Warning = 2
    Abort = 3
    Fatal = 4


class webServerVerbosity(enum.IntEnum):
    """How much the server logs: Low (start-up, warnings, errors), Medium (lifecycle), High (access)."""

    Low = 0
    Medium = 1
    High = 2


MessageSeverity = webServerSeverity.Message
PromptSeverity = webServerSeverity.Prompt
WarningSeverity = webServerSeverity.Warning
AbortSeverity = webServerSeverity.Abort
FatalSeverity = webServerSeverity.Fatal

"""Start-up checks of a port's settings, run by run() before anything is bound.

A worker builds its TLS context, request policy and log file from the same settings; doing
it once here first turns a bad value into a ValueError naming the port and the setting,
raised by run() in the caller, rather than a worker that fails to start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...api.settings import PortSettings
from ..common.port_logs import check_log_file
from .build import build_policy
from .tls import server_ssl_context


def check_port_settings(port_name: str, settings: Mapping[str, Any]) -> None:
    typed = PortSettings.of(settings)
    try:
        server_ssl_context(typed)
        build_policy(typed)
        check_log_file(typed)
    except ValueError as exc:
        raise ValueError(f"port {port_name!r}: {exc}") from None

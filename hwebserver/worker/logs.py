"""The documented path of reopen_log_files() (README: SIGUSR1 and logrotate), kept when the
worker's logging moved to worker/common/logs.py."""

from .common.logs import reopen_log_files

__all__ = ["reopen_log_files"]

"""hwebserver: the API of Houdini's embedded web server, without Houdini.

Only the public names of the API live here; the README documents each of them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

from . import apiclient
from .api.enums import (
    AbortSeverity,
    FatalSeverity,
    MessageSeverity,
    PromptSeverity,
    WarningSeverity,
    webServerSeverity,
    webServerVerbosity,
)
from .api.errors import APIError, OperationFailed
from .api.files import FileServing as _FileServing
from .api.files import registerArchiveFile, registerStaticFilesDirectory
from .api.files import serve_files_with as _serve_files_with
from .api.functions.decorator import apiFunction
from .api.handlers import AsyncURLHandler, URLHandler
from .api.helpers import errorResponse, fileResponse, notFoundResponse, redirect
from .api.mounts import registerASGIApp, registerOpdefPath, registerWSGIApp
from .api.request import Request, WebServerRequest
from .api.response import Response, WebServerResponse
from .api.routing import urlHandler
from .api.settings import setSettingsForPort
from .api.uploads import UploadedFile, WebServerUploadedFile
from .api.websocket import WebSocket, webSocket
from .api.worker_hooks import onWorkerStart, onWorkerStop
from .run import isInDebugMode, requestShutdown, run
from .worker.files.archive import serve_archive as _serve_archive
from .worker.files.static import serve_directory as _serve_directory

# What answers for registerStaticFilesDirectory() and registerArchiveFile() is the worker's.
_serve_files_with(_FileServing(directory=_serve_directory, archive=_serve_archive))

try:
    # The version is written once, in pyproject.toml; the installed metadata carries it.
    __version__ = _distribution_version("hwebserver")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "APIError",
    "AbortSeverity",
    "AsyncURLHandler",
    "FatalSeverity",
    "MessageSeverity",
    "OperationFailed",
    "PromptSeverity",
    "Request",
    "Response",
    "URLHandler",
    "UploadedFile",
    "WarningSeverity",
    "WebServerRequest",
    "WebServerResponse",
    "WebServerUploadedFile",
    "WebSocket",
    "apiFunction",
    "apiclient",
    "errorResponse",
    "fileResponse",
    "isInDebugMode",
    "notFoundResponse",
    "onWorkerStart",
    "onWorkerStop",
    "redirect",
    "registerASGIApp",
    "registerArchiveFile",
    "registerOpdefPath",
    "registerStaticFilesDirectory",
    "registerWSGIApp",
    "requestShutdown",
    "run",
    "setSettingsForPort",
    "urlHandler",
    "webServerSeverity",
    "webServerVerbosity",
    "webSocket",
]

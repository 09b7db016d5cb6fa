"""The /api endpoint: decode a call from its wire format, call the function, encode the result.

Wire formats (Houdini's, plus a JSON body), all POST:
1. form fields (urlencoded or multipart) with `cmd_function=<name>`: every other field is a
   keyword argument (a string), every file part one more (an UploadedFile);
2. a form field `json` holding [name, [args...], {kwargs...}] (when there is no
   cmd_function): file parts of a multipart body are more keyword arguments;
3. (extension) a body of type application/json holding the same triple.

Every error is JSON {"error": message}, whatever the client's Accept header says.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from ..errors import APIError
from ..internal.connection import OnHandlerThread
from ..internal.forms import MULTIPART, URLENCODED, media_type
from ..internal.tracebacks import without_server_frames
from ..request import Request
from ..response import Response
from .jsonencode import dumps_bytes
from .registry import ApiFunction, CallError, api_functions

log = logging.getLogger("hwebserver")

JSON_TYPE = "application/json"
JSON_UTF8 = "application/json; charset=utf-8"
BINARY_TYPE = "application/octet-stream"


def json_error(message: Any, status: int) -> Response:
    return Response(json.dumps({"error": message}, default=str), status, content_type=JSON_TYPE)


async def api_endpoint(request: Request) -> Response | OnHandlerThread:
    """The route of /api on every port that has API functions. A plain function is called on a
    handler thread, with its result encoded there too (one hop, no task)."""
    if request.http_method != "POST":
        response = json_error("the API endpoint takes POST requests only", 405)
        response.setHeader("Allow", "POST")
        return response
    function: ApiFunction | None = None
    try:
        name, args, kwargs = decode_call(request)
        function = api_functions.lookup(request.conn.port_name, name)
        if function is None:
            raise CallError(404, f"no API function named {name!r}")
        call_args, call_kwargs = function.bind(request, args, kwargs)
        if not function.is_async:
            bound = PlainCall(function, call_args, call_kwargs)
            if request.conn.services is None:  # a Request built by hand: no threads to use
                return bound.run(request)
            return OnHandlerThread(bound.run)
        result = await function.function(*call_args, **call_kwargs)
    except CallError as error:
        return json_error(error.message, error.status)
    except APIError as error:
        return json_error(error.message, error.status)
    except Exception as exc:
        return failure(request, function, exc)
    return encode_result(request, function, result)


class PlainCall:
    """A plain API function with its arguments bound, to be run on a handler thread."""

    __slots__ = ("args", "function", "kwargs")

    def __init__(
        self, function: ApiFunction, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.function = function
        self.args = args
        self.kwargs = kwargs

    def run(self, request: Request) -> Response:
        function = self.function
        try:
            result = function.function(*self.args, **self.kwargs)
        except APIError as error:
            return json_error(error.message, error.status)
        except Exception as exc:
            return failure(request, function, exc)
        return encode_result(request, function, result)


def decode_call(request: Request) -> tuple[str, list[Any], dict[str, Any]]:
    form = request.parsed_form  # a form body the server parsed while it arrived
    if form is not None:
        fields = form.fields
        files = form.files
    else:
        kind = media_type(request.contentType())
        if kind == JSON_TYPE:
            return call_triple(load_json(request.body(), "the request body"))
        if kind not in (URLENCODED, MULTIPART):
            raise CallError(
                400,
                "an API call is a POST of form fields or of JSON, "
                f"not of {kind or 'a body without a Content-Type'}",
            )
        fields = request.POST()
        files = request.files()
    if "cmd_function" in fields:
        kwargs: dict[str, Any] = {k: v for k, v in fields.items() if k != "cmd_function"}
        return fields["cmd_function"], [], merge_files(kwargs, files)
    if "json" in fields:
        name, args, kwargs = call_triple(load_json(fields["json"], "the json field"))
        return name, args, merge_files(kwargs, files)
    raise CallError(400, "the form has neither a cmd_function nor a json field")


def load_json(data: str | bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise CallError(400, f"{where} is not valid JSON: {exc}") from None


def call_triple(value: Any) -> tuple[str, list[Any], dict[str, Any]]:
    """[name], [name, args] or [name, args, kwargs]."""
    if not isinstance(value, list) or not 1 <= len(value) <= 3:
        raise CallError(400, "an API call in JSON is [name, [args...], {kwargs...}]")
    name = value[0]
    args = value[1] if len(value) > 1 else []
    kwargs = value[2] if len(value) > 2 else {}
    if not isinstance(name, str) or not name:
        raise CallError(400, "the function name of an API call must be a non-empty string")
    if not isinstance(args, list):
        raise CallError(400, "the positional arguments of an API call must be a JSON array")
    if not isinstance(kwargs, dict):
        raise CallError(400, "the keyword arguments of an API call must be a JSON object")
    return name, args, kwargs


def merge_files(kwargs: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
    for part_name, upload in files.items():
        if part_name in kwargs:
            raise CallError(400, f"argument {part_name!r} given both as a value and as a file")
        kwargs[part_name] = upload
    return kwargs


def encode_result(request: Request, function: ApiFunction, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, (bytes, bytearray, memoryview)) or function.return_binary:
        try:
            data = result.encode("utf-8") if isinstance(result, str) else bytes(memoryview(result))
        except TypeError:
            return cannot_encode(request, function, result, "binary data")
        return Response(data, content_type=BINARY_TYPE)
    try:
        body = dumps_bytes(result)
    except (TypeError, ValueError, RecursionError):
        return cannot_encode(request, function, result, "JSON")
    return Response(body, content_type=JSON_UTF8)


def cannot_encode(request: Request, function: ApiFunction, result: Any, what: str) -> Response:
    kind = type(result).__name__
    log.error(
        "API function %s returned a %s, which cannot be sent as %s", function.name, kind, what
    )
    return json_error(f"the result of {function.name} ({kind}) cannot be sent as {what}", 500)


def failure(request: Request, function: ApiFunction | None, exc: BaseException) -> Response:
    name = function.name if function is not None else "(unknown)"
    without_server_frames(exc)  # the log and a debug answer start at the function's own frame
    log.error("API function %s raised %s", name, type(exc).__name__, exc_info=exc)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return server_error(request, text)


def server_error(request: Request, detail: str) -> Response:
    """500: the detail (a traceback, a type name) reaches the client only in debug mode."""
    services = request.conn.services
    debug = services.debug if services is not None else False
    return json_error(detail if debug else "Internal Server Error", 500)

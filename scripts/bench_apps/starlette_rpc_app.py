"""The comparison for scripts/bench_api: the same RPC (form fields, JSON answer) in Starlette,
served by uvicorn (uvloop + httptools) from a separate virtualenv."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def ping(request: Request) -> str:
    return "pong"


def add(request: Request, a: object, b: object) -> object:
    return a + b  # type: ignore[operator]


FUNCTIONS = {"ping": ping, "add": add}


async def api(request: Request) -> JSONResponse:
    form = await request.form()
    if "cmd_function" in form:
        name = str(form["cmd_function"])
        args: list[object] = []
        kwargs = {k: v for k, v in form.items() if k != "cmd_function"}
    else:
        name, args, kwargs = json.loads(str(form["json"]))
    return JSONResponse(FUNCTIONS[name](request, *args, **kwargs))


app = Starlette(routes=[Route("/api", api, methods=["POST"])])

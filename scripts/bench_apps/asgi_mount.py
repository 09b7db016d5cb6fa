"""The Starlette endpoint scripts/bench_asgi measures, under hwebserver and under uvicorn.

`python asgi_mount.py PORT` serves it mounted in hwebserver (registerASGIApp, one process);
uvicorn imports `app` from this file.
"""

from __future__ import annotations

import sys

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request):
    return JSONResponse({"message": "Hello, world!"})


app = Starlette(routes=[Route("/hello", hello)])

if __name__ == "__main__":
    import hwebserver

    hwebserver.registerASGIApp(app, "/")
    hwebserver.run(port=int(sys.argv[1]), in_background=False)

"""FastAPI app for uvicorn: plain `def` endpoints, which FastAPI runs in its thread pool.

/hello returns a Response itself (no JSON encoding), as hw_app.py's handler does. /api takes
the form fields as parameters: FastAPI parses the form on the event loop, then calls the
function in a thread, which is what an hwebserver apiFunction through the pool does.
"""

from fastapi import FastAPI, Form
from fastapi.responses import JSONResponse, PlainTextResponse

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/hello")
def hello() -> PlainTextResponse:
    return PlainTextResponse("Hello, world!")


@app.get("/ahello")
async def async_hello() -> PlainTextResponse:
    """An `async def` endpoint: FastAPI calls it on the event loop (the mounted-FastAPI row)."""
    return PlainTextResponse("Hello, world!")


@app.post("/api")
def api(x: float = Form(), y: float = Form(), z: float = Form()) -> JSONResponse:
    return JSONResponse((x * x + y * y + z * z) ** 0.5)

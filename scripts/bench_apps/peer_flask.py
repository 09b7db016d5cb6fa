"""Flask hello: served by gunicorn (gthread, 1 worker, 4 threads) and mounted in hwebserver.

The same Flask hello, `GET /hello` -> text/plain, as the other hello rows.
"""

from flask import Flask, Response

app = Flask(__name__)


@app.get("/hello")
def hello() -> Response:
    return Response("Hello, world!", content_type="text/plain")

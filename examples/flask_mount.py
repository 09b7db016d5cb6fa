"""A Flask app mounted under /tools, beside hwebserver handlers (needs Flask installed).

python examples/flask_mount.py     (then open http://127.0.0.1:8008/tools/)
"""

from __future__ import annotations

import os

from flask import Flask, url_for

import hwebserver

tools = Flask(__name__)


@tools.route("/")
def tools_index() -> str:
    return f"Flask under /tools; this page is {url_for('tools_index')}"


@hwebserver.urlHandler("/tools/health")
def health(request: hwebserver.Request) -> str:
    return "ok"  # a URL handler with a longer matching path wins over the mount


hwebserver.registerWSGIApp(tools, "/tools")

if __name__ == "__main__":
    hwebserver.run(port=int(os.environ.get("PORT", "8008")), in_background=False)

"""A static site: the files of examples/site/ under /, with ETag, Range and sendfile.

python examples/static_site.py     (then open http://127.0.0.1:8008/index.html)
"""

from __future__ import annotations

import os
from pathlib import Path

import hwebserver

hwebserver.registerStaticFilesDirectory(str(Path(__file__).parent / "site"), "/")


@hwebserver.urlHandler("/health")
def health(request: hwebserver.Request) -> str:
    return "ok"  # a handler beside the files: it wins for its own path


if __name__ == "__main__":
    hwebserver.run(port=int(os.environ.get("PORT", "8008")), in_background=False)

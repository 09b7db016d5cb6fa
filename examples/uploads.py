"""File uploads: a form with a file field; large files stream to disk, never into memory.

python examples/uploads.py
curl -F scene=@big.bgeo http://127.0.0.1:8008/upload
"""

from __future__ import annotations

import hashlib
import json
import os

import hwebserver

FORM = """<form method="post" action="/upload" enctype="multipart/form-data">
<input type="file" name="scene"> <input type="text" name="note"> <button>Send</button></form>"""


@hwebserver.urlHandler("/")
def index(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.Response(FORM)


@hwebserver.urlHandler("/upload", methods=["POST"])
def upload(request: hwebserver.Request) -> hwebserver.Response:
    received = {}
    for field, upload in request.files().items():
        digest = hashlib.sha256()
        try:
            while chunk := upload.read(1 << 20):  # a large file is read from its temp file
                digest.update(chunk)
        finally:
            upload.close()
        received[field] = {
            "name": upload.name(),
            "size": upload.size(),
            "sha256": digest.hexdigest(),
            "in_memory": upload.isInMemory(),
        }
    answer = {"files": received, "fields": request.POST()}
    return hwebserver.Response(json.dumps(answer), content_type="application/json")


if __name__ == "__main__":
    hwebserver.run(port=int(os.environ.get("PORT", "8008")), in_background=False)

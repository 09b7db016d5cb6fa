"""hwebserver side of the big-body rows (scripts/bench_bigbody.py).

POST /upload: a multipart upload, stored by the handler the way the API says to keep one (the
uploaded file is moved out of the request's temp dir into BENCH_STORE_DIR, on the same file
system: a rename, no copy). GET /download: BENCH_DOWNLOAD_FILE with fileResponse().
"""

from __future__ import annotations

import os
import sys
import uuid

import hwebserver

STORE_DIR = os.environ["BENCH_STORE_DIR"]
DOWNLOAD_FILE = os.environ["BENCH_DOWNLOAD_FILE"]


@hwebserver.urlHandler("/upload", methods=["POST"])
def upload(request: hwebserver.Request) -> hwebserver.Response:
    stored = []
    for upload in request.files().values():
        upload.saveToDisk()  # a no-op for a large one: it streamed to a temp file
        target = os.path.join(STORE_DIR, uuid.uuid4().hex)
        os.replace(upload.temporaryFilePath(), target)
        stored.append(f"{upload.size()} {target}")
    return hwebserver.Response("\n".join(stored) + "\n", content_type="text/plain")


@hwebserver.urlHandler("/download")
def download(request: hwebserver.Request) -> hwebserver.Response:
    return hwebserver.fileResponse(DOWNLOAD_FILE, "application/octet-stream")


if __name__ == "__main__":
    hwebserver.run(port=int(sys.argv[1]), in_background=False, max_num_threads=4)

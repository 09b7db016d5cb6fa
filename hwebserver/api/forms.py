"""Form bodies: the fields and files of urlencoded and multipart requests."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from .request import Request
    from .uploads import UploadedFile


class FormData:
    """The parsed form of one request: text fields and uploaded files."""

    __slots__ = ("fields", "files")

    def __init__(
        self, fields: dict[str, str] | None = None, files: dict[str, UploadedFile] | None = None
    ) -> None:
        self.fields: dict[str, str] = fields if fields is not None else {}
        self.files: dict[str, UploadedFile] = files if files is not None else {}


def parse_form(request: Request) -> FormData:
    """Parse the body of a request that was not parsed while it streamed in."""
    content_type = request.contentType().split(";", 1)[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        text = request.body().decode("utf-8", "replace")
        return FormData(dict(parse_qsl(text, keep_blank_values=True)))
    return FormData()

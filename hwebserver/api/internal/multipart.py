"""multipart/form-data parsed while it streams in (python-multipart does the byte work).

Text parts become form fields; parts with a `filename` become UploadedFiles, held in memory
up to the in-memory limit and streamed into the request's temp dir beyond it. The whole form
keeps at most `memory_limit` bytes in memory: a file that would pass it goes to disk however
small, and text that would pass it is refused (FormTooLarge, 413).
"""

from __future__ import annotations

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from ..uploads import DEFAULT_CONTENT_TYPE, UploadWriter
from .form_data import (
    DEFAULT_FORM_MEMORY,
    FIELD_OVERHEAD,
    FILE_OVERHEAD,
    FormData,
    FormError,
    FormMemory,
    too_much_text,
)
from .tempdir import RequestTempDir

MAX_PART_HEADERS = 16 * 1024  # bytes of one part's header lines


def header_text(raw: bytes) -> str:
    """Part header parameters arrive as the client's bytes: browsers send UTF-8 unescaped."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class MultipartFormParser:
    """Feed it the body with write(); finish() returns the form or raises FormError."""

    def __init__(
        self,
        content_type: str,
        tempdir: RequestTempDir,
        max_in_memory: int,
        memory_limit: int = DEFAULT_FORM_MEMORY,
    ) -> None:
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise FormError("multipart/form-data without a boundary in its Content-Type")
        self.form = FormData()
        self._tempdir = tempdir
        self._max_in_memory = max_in_memory
        self._memory = FormMemory(memory_limit)
        self._text_size = 0
        self._header_size = 0
        self._header_name: list[bytes] = []
        self._header_value: list[bytes] = []
        self._part_headers: dict[bytes, bytes] = {}
        self._field_name = ""
        self._file_name: str | None = None
        self._text: list[bytes] = []
        self._upload: UploadWriter | None = None
        self._ended = False
        try:
            self._parser = MultipartParser(
                boundary,
                callbacks={
                    "on_part_begin": self._on_part_begin,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_end": self._on_end,
                },
            )
        except FormParserError as exc:
            raise FormError(str(exc)) from None

    def write(self, data: bytes) -> None:
        if self._ended:
            return  # the epilogue after the closing boundary carries nothing
        try:
            self._parser.write(data)
        except FormParserError as exc:
            raise FormError(str(exc)) from None

    def finish(self) -> FormData:
        if not self._ended:
            raise FormError("the multipart body ends before its closing boundary")
        return self.form

    def close(self) -> None:
        upload, self._upload = self._upload, None
        if upload is not None:
            upload.close()

    # -- python-multipart callbacks ------------------------------------------------------
    def _on_part_begin(self) -> None:
        self._part_headers = {}
        self._header_size = 0

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._header_name.append(data[start:end])

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._header_value.append(data[start:end])

    def _count_header(self, size: int) -> None:
        self._header_size += size
        if self._header_size > MAX_PART_HEADERS:
            raise FormError(f"a multipart part has more than {MAX_PART_HEADERS} bytes of headers")

    def _on_header_end(self) -> None:
        name = b"".join(self._header_name).strip().lower()
        self._part_headers[name] = b"".join(self._header_value).strip(b" \t")
        self._header_name.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        disposition = self._part_headers.get(b"content-disposition")
        _, options = parse_options_header(disposition.decode("latin-1") if disposition else "")
        name = options.get(b"name")
        if name is None:
            raise FormError("a multipart part has no name in its Content-Disposition header")
        self._field_name = header_text(name)
        file_name = options.get(b"filename")
        self._file_name = None if file_name is None else header_text(file_name)
        if self._file_name is not None:
            content_type = self._part_headers.get(b"content-type")
            self._upload = UploadWriter(
                self._file_name,
                content_type.decode("latin-1") if content_type else DEFAULT_CONTENT_TYPE,
                self._tempdir,
                # Past the form's budget a file goes to disk, however small.
                min(self._max_in_memory, self._memory.left() - FILE_OVERHEAD),
            )

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._upload is not None:
            # Most calls of a large file part hand over a whole chunk: no copy of it then.
            self._upload.write(data if start == 0 and end == len(data) else data[start:end])
        else:
            self._text_size += end - start
            if self._text_size > self._memory.left():
                raise too_much_text(self._memory.limit)
            self._text.append(data[start:end])

    def _on_part_end(self) -> None:
        upload, self._upload = self._upload, None
        if upload is not None:
            uploaded = upload.finish()
            # A browser's file input with no file chosen sends filename="" and no data.
            if uploaded.name() or uploaded.size():
                cost = FILE_OVERHEAD + len(self._field_name) + len(uploaded.name())
                if uploaded.isInMemory():
                    cost += uploaded.size()
                self._memory.keep(self._field_name, cost, is_file=True)
                self.form.files[self._field_name] = uploaded
            return
        value = b"".join(self._text).decode("utf-8", "replace")
        self._text.clear()
        self._memory.keep(self._field_name, FIELD_OVERHEAD + len(self._field_name) + len(value))
        self._text_size = 0
        self.form.fields[self._field_name] = value

    def _on_end(self) -> None:
        self._ended = True

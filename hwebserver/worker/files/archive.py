"""registerArchiveFile() (registered by api/files.py): the files inside a zip archive, served
like a static directory.

The rules are registerStaticFilesDirectory's (worker/files/static.py): GET and HEAD only, ETag and
Last-Modified with 304 answers, one Range (206 or 416), and 404 for anything that is not a
file of the archive: directories, names that would leave the prefix (`..`, encoded
separators, NUL), encrypted members. The validators come from the member itself: the ETag
from its CRC-32, size and date, Last-Modified from its date.

A member stored uncompressed (`zip -0`) goes out with sendfile from the archive file; a
compressed one is inflated in memory for each request, so large members are best stored.

Each process keeps its own index (and its own open archive): a worker never shares a file
offset with another. The index is rebuilt when the archive on disk changes (its inode, size
or modification time), so replacing the archive takes effect without a restart.
"""

from __future__ import annotations

import os
import struct
import time
import zipfile
from collections.abc import Awaitable, Callable

from ...api.errors import OperationFailed
from ...api.helpers import notFoundResponse
from ...api.request import Request
from ...api.response import Response
from ..http.response_streams import FileRangeResponse
from .paths import prefix_segments, relative_segments
from .static import FilePlan, content_type_of, open_regular, plan_answer

# The fixed part of a local file header (APPNOTE 4.3.7); the name and extra field follow it.
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_EXTENDED_TIMESTAMP = 0x5455  # the "UT" extra field: modification time in UTC seconds
_ENCRYPTED = 0x1


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def member_mtime(member: zipfile.ZipInfo) -> float:
    """Its UTC time from the extended timestamp field, else its DOS date read as local time
    (what `unzip` does)."""
    extra = member.extra
    position = 0
    while position + 4 <= len(extra):
        field_id, size = struct.unpack_from("<HH", extra, position)
        data = extra[position + 4 : position + 4 + size]
        if field_id == _EXTENDED_TIMESTAMP and len(data) >= 5 and data[0] & 1:
            return float(struct.unpack_from("<i", data, 1)[0])
        position += 4 + size
    return time.mktime((*member.date_time, 0, 0, -1))


def member_etag(member: zipfile.ZipInfo, mtime: float) -> str:
    return f'"{member.CRC:08x}-{member.file_size:x}-{int(mtime):x}"'


class ArchiveIndex:
    """One process's view of the archive: its members by name, and the open ZipFile."""

    __slots__ = ("data_offsets", "identity", "members", "pid", "zip")

    def __init__(self, path: str) -> None:
        opened = open_regular(path)
        if opened is None:
            raise OperationFailed(f"archive {path!r} does not exist or is not a regular file")
        file, info = opened
        try:
            self.zip = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            file.close()
            raise OperationFailed(f"{path!r} is not a readable zip archive: {exc}") from None
        self.identity = _identity(info)
        self.pid = os.getpid()
        self.members = {
            member.filename: member
            for member in self.zip.infolist()
            if not member.is_dir() and not member.flag_bits & _ENCRYPTED
        }
        self.data_offsets: dict[str, int] = {}

    def close(self) -> None:
        fp = self.zip.fp
        self.zip.close()
        if fp is not None:
            fp.close()

    def data_offset(self, member: zipfile.ZipInfo) -> int:
        """Where a member's bytes start in the archive, read from its local header once."""
        offset = self.data_offsets.get(member.filename)
        if offset is None:
            fp = self.zip.fp
            assert fp is not None
            fp.seek(member.header_offset)
            header = fp.read(_LOCAL_HEADER.size)
            if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_SIGNATURE:
                raise OperationFailed(f"bad local header for {member.filename!r} in the archive")
            fields = _LOCAL_HEADER.unpack(header)
            name_length, extra_length = fields[-2], fields[-1]
            offset = member.header_offset + _LOCAL_HEADER.size + name_length + extra_length
            self.data_offsets[member.filename] = offset
        return offset


class ServedArchive:
    """One registered archive; `serve` is the route's endpoint."""

    __slots__ = ("index", "path", "prefix")

    def __init__(self, archive_file: str, url_prefix: str) -> None:
        self.path = os.path.realpath(archive_file)
        self.prefix = prefix_segments(url_prefix)
        self.index: ArchiveIndex | None = None

    def current_index(self) -> ArchiveIndex | None:
        """This process's index of the archive as it is on disk now; None when it is gone."""
        try:
            identity = _identity(os.stat(self.path))
        except OSError:
            return None
        index = self.index
        if index is not None and index.identity == identity and index.pid == os.getpid():
            return index
        if index is not None and index.pid == os.getpid():
            index.close()  # the archive changed: its old file goes (a forked copy stays open)
        self.index = None
        self.index = ArchiveIndex(self.path)
        return self.index

    async def serve(self, request: Request) -> Response:
        return self.answer(request)

    def answer(self, request: Request) -> Response:
        segments = relative_segments(request.target, self.prefix)
        index = None if segments is None else self.current_index()
        member = (
            None if index is None or segments is None else index.members.get("/".join(segments))
        )
        if segments is None or index is None or member is None:
            return notFoundResponse(request)
        mtime = member_mtime(member)
        plan = plan_answer(request, member_etag(member, mtime), mtime, member.file_size)
        if isinstance(plan, Response):
            return plan
        content_type = content_type_of(segments[-1])
        if member.compress_type == zipfile.ZIP_STORED:
            response = self._stored(index, member, plan, content_type)
        else:
            data = index.zip.read(member)  # its CRC is checked: a damaged member raises
            body = data[plan.offset : plan.offset + plan.length]
            response = Response(body, plan.status, content_type=content_type)
        for header, value in plan.headers.items():
            response.setHeader(header, value)
        return response

    def _stored(
        self, index: ArchiveIndex, member: zipfile.ZipInfo, plan: FilePlan, content_type: str
    ) -> Response:
        """An uncompressed member: its bytes straight from the archive file, with sendfile."""
        start = index.data_offset(member)
        opened = open_regular(self.path)
        if opened is None:
            raise OperationFailed(f"archive {self.path!r} went away while being served")
        file, info = opened
        if _identity(info) != index.identity:
            file.close()
            raise OperationFailed(f"archive {self.path!r} changed while being served")
        return FileRangeResponse(
            self.path, file, start + plan.offset, plan.length, plan.status, content_type
        )


def serve_archive(archive_file: str, url_prefix: str) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of an archive registered with registerArchiveFile() (api/files.py),
    checked now: a missing or unreadable archive is a ValueError at registration, not a 404
    later."""
    served = ServedArchive(archive_file, url_prefix)
    try:
        checked = ArchiveIndex(served.path)
    except OperationFailed as exc:
        raise ValueError(f"registerArchiveFile: {exc}") from None
    checked.close()  # each process opens its own on its first request
    return served.serve

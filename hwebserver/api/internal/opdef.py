"""The opdef endpoint: operator-definition sections from a user-supplied resolver.

Without Houdini there is no operator library; `resolver(node_type_path, section)` stands in
for it (see registerOpdefPath).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from urllib.parse import unquote

from ..helpers import notFoundResponse
from ..request import Request
from ..response import Response


class OpdefEndpoint:
    """A plain handler: `{prefix}/Sop/box?Section` -> resolver('Sop/box', 'Section')."""

    def __init__(self, prefix: str, resolver: Callable[[str, str], bytes | None] | None) -> None:
        self.prefix = prefix
        self.resolver = resolver

    def __call__(self, request: Request) -> Response:
        node_type_path = request.path()[len(self.prefix) :].strip("/")
        if self.resolver is None or not node_type_path:
            return notFoundResponse(request)
        section = unquote(request.queryString())
        data = self.resolver(node_type_path, section)
        if data is None:
            return notFoundResponse(request)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"the opdef resolver returned {type(data).__name__} for "
                f"{node_type_path!r}?{section!r}; it must return bytes or None"
            )
        content_type = mimetypes.guess_type("x/" + section)[0] if "." in section else None
        return Response(bytes(data), content_type=content_type or "application/octet-stream")

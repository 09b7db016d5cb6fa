"""UploadedFile: one file part of a multipart request, in memory or in a temporary file."""

from __future__ import annotations

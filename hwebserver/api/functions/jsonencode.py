"""JSON of an API result, byte for byte what json.dumps(value).encode() gives, made cheaper.

json.dumps builds a new encoder (closures, a C encoder object) on every call, which costs
more than encoding a typical API result. Scalars are written directly; containers go through
one C encoder kept for the process, rebuilt after a failure (a failed encode may leave marks
in its circular-reference table).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from json import encoder as _stdlib
from typing import Any

_Encoder = Callable[[Any, int], Any]

_local = threading.local()  # one encoder per thread: its marker table is not thread-safe


def _new_encoder() -> _Encoder | None:
    make = getattr(_stdlib, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator: json.dumps is all there is
        return None
    default = json.JSONEncoder().default  # raises TypeError, as json.dumps does
    encoder: _Encoder = make(
        {}, default, _stdlib.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    return encoder


def _float_text(value: float) -> str:
    if math.isfinite(value):
        return float.__repr__(value)
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def dumps_bytes(value: Any) -> bytes:
    """json.dumps(value).encode(): the same text, the same TypeError / ValueError."""
    kind = value.__class__
    if kind is float:
        return _float_text(value).encode()
    if kind is int:
        return int.__repr__(value).encode()
    if kind is str:
        return _stdlib.encode_basestring_ascii(value).encode()
    if value is None:
        return b"null"
    if value is True:
        return b"true"
    if value is False:
        return b"false"
    encoder: _Encoder | None = getattr(_local, "encoder", None)
    if encoder is None:
        encoder = _local.encoder = _new_encoder()
        if encoder is None:
            return json.dumps(value).encode()
    try:
        chunks = encoder(value, 0)
    except BaseException:
        _local.encoder = None
        raise
    return "".join(chunks).encode()

"""The API's JSON encoder writes exactly what json.dumps(value).encode() writes."""

from __future__ import annotations

import json
import threading

import pytest

from hwebserver.api.functions.jsonencode import dumps_bytes


class Count(int):
    pass


class Ratio(float):
    pass


VALUES = [
    3.0,
    1e100,
    -0.0,
    float("nan"),
    float("inf"),
    float("-inf"),
    0,
    -5,
    10**30,
    True,
    False,
    None,
    'héllo\n"quoted"\x00',
    "",
    [1, 2.5, "a", None, {"k": [True]}],
    {"a": 1, 2: "b", 3.5: None, True: 1, None: 2},
    (1, 2),
    [],
    {},
    {"é": "ü"},
    Count(3),
    Ratio(2.5),
    [Count(4), Ratio(0.5)],
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_same_bytes_as_json_dumps(value):
    assert dumps_bytes(value) == json.dumps(value).encode()


@pytest.mark.parametrize(
    "value",
    [object(), {1: object()}, [set()], {(1, 2): 3}],
    ids=["object", "in dict", "set", "key"],
)
def test_same_error_as_json_dumps(value):
    with pytest.raises(TypeError) as expected:
        json.dumps(value)
    with pytest.raises(TypeError) as raised:
        dumps_bytes(value)
    assert str(raised.value) == str(expected.value)


def test_a_failed_encode_leaves_no_false_circular_reference():
    holder: list[object] = [1, object()]
    with pytest.raises(TypeError):
        dumps_bytes(holder)  # fails while `holder` is marked as being encoded
    holder.pop()
    assert dumps_bytes(holder) == b"[1]"
    shared = [1]
    looped: list[object] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps_bytes(looped)
    assert dumps_bytes({"a": shared}) == b'{"a": [1]}'


def test_threads_encode_at_once():
    value = {"rows": [[i, str(i), i / 3] for i in range(200)]}
    expected = json.dumps(value).encode()
    results: list[bytes] = []

    def encode_many() -> None:
        results.extend(dumps_bytes(value) for _ in range(50))

    threads = [threading.Thread(target=encode_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 200
    assert all(result == expected for result in results)

"""The control pipe's framing: messages survive any split of the byte stream."""

from __future__ import annotations

import struct

import pytest

from hwebserver.worker.common import control, messages
from hwebserver.worker.common.control import ControlProtocolError, FrameDecoder, encode


def test_messages_split_anywhere_and_batched_come_out_whole():
    stream = b"".join(
        [
            encode(control.READY, pid=12, sources=["/srv/app.py"]),
            encode(control.HEARTBEAT, served=3, in_flight=1, lag=0.001, rss=1 << 20),
            encode(control.DRAIN, mode=control.RETIRE),
        ]
    )
    for step in (1, 3, 7, len(stream)):
        decoder = FrameDecoder()
        messages = []
        for start in range(0, len(stream), step):
            messages.extend(decoder.feed(stream[start : start + step]))
        assert [m["kind"] for m in messages] == [control.READY, control.HEARTBEAT, control.DRAIN]
        assert messages[0]["sources"] == ["/srv/app.py"]
        assert messages[2]["mode"] == control.RETIRE


def test_oversized_or_malformed_frames_are_refused():
    with pytest.raises(ControlProtocolError):
        FrameDecoder().feed(struct.pack(">I", control.MAX_FRAME + 1))
    with pytest.raises(ControlProtocolError):
        FrameDecoder().feed(struct.pack(">I", 3) + b"{x}")
    with pytest.raises(ControlProtocolError):
        FrameDecoder().feed(struct.pack(">I", 2) + b"[]")


# -- the typed messages (worker/common/messages.py) ---------------------------------------------
EVERY_KIND = [
    messages.Ready(12, 3, ["/srv/app.py"], stop_hooks=True),
    messages.Heartbeat(
        5,
        1,
        0.002,
        1 << 20,
        queued_calls=3,
        oldest_call_wait=1.5,
        statuses=[0, 4, 0, 1, 0],
        buckets=[1] * 14,
        duration_sum=0.25,
        connections=2,
        websockets=1,
    ),
    messages.Heartbeat(5, 0, 0.0, 1 << 20),  # no request counts kept: none sent
    messages.Shutdown("SIGTERM"),
    messages.Shutdown(),
    messages.BootFailed("Traceback ...\nNameError: x", "NameError: x"),
    messages.MetricsQuery(7),
    messages.Metrics(7, messages.MetricsSnapshot()),
    messages.Metrics(
        8,
        messages.MetricsSnapshot(
            messages.SupervisorFigures(41, 2, 1.5, False, 1, 0, 0, {"drained": 1}),
            [messages.WorkerFigures(42, 2, "ready", 0.5, messages.Heartbeat(3, 1, 0.0, 1 << 20))],
            messages.RetiredTotals([0, 1, 0, 0, 0], [1] * 14, 0.5),
        ),
    ),
    messages.Drain(control.RETIRE),
    messages.Stop(),
    messages.Unready(),
]


def test_every_kind_of_message_comes_out_as_it_went_in():
    assert {type(message) for message in EVERY_KIND} == set(messages.KINDS.values())
    stream = b"".join(messages.encode(message) for message in EVERY_KIND)
    decoded = [messages.decode(frame) for frame in FrameDecoder().feed(stream)]
    assert decoded == EVERY_KIND


def test_the_json_is_flat_and_leaves_out_what_is_not_set():
    """What a worker of another version (a reload spawns the code on disk) still reads."""
    (frame,) = FrameDecoder().feed(messages.encode(messages.Heartbeat(3, 1, 0.001, 1 << 20)))
    assert frame == {"kind": "heartbeat", "served": 3, "in_flight": 1, "lag": 0.001, "rss": 1 << 20}
    (frame,) = FrameDecoder().feed(messages.encode(messages.Shutdown()))
    assert frame == {"kind": "shutdown"}


def test_unknown_kinds_and_fields_are_ignored_and_numbers_converted():
    assert messages.decode({"kind": "from_a_newer_version", "x": 1}) is None
    heartbeat = messages.decode({"kind": "heartbeat", "served": 2.0, "rss": 10, "new": [1]})
    assert heartbeat == messages.Heartbeat(served=2, rss=10)
    assert isinstance(heartbeat, messages.Heartbeat) and type(heartbeat.served) is int


@pytest.mark.parametrize(
    "frame",
    [
        {"kind": "heartbeat", "served": "many"},
        {"kind": "heartbeat", "statuses": 5},
        {"kind": "heartbeat", "buckets": ["x"]},
        {"kind": "metrics", "id": 1, "snapshot": []},
        {"kind": "ready", "pid": [12]},
    ],
)
def test_a_field_of_the_wrong_type_is_a_protocol_error(frame):
    with pytest.raises(ControlProtocolError):
        messages.decode(frame)


def test_the_metrics_snapshot_goes_as_the_json_object_it_always_was():
    """A worker of another version (a reload spawns the code on disk) reads the same object."""
    snapshot = messages.MetricsSnapshot(
        messages.SupervisorFigures(41, None, 1.5, True, 1, 2, 3, {"crashed": 1}),
        [messages.WorkerFigures(42, 2, "ready", 0.5, messages.Heartbeat(3, 1, 0.0, 7))],
        messages.RetiredTotals([0, 1], [2], 0.25),
    )
    (frame,) = FrameDecoder().feed(messages.encode(messages.Metrics(9, snapshot)))
    assert frame["snapshot"] == {
        "supervisor": {
            "pid": 41,
            "uptime": 1.5,
            "shutting_down": True,
            "reloads_succeeded": 1,
            "reloads_failed": 2,
            "recycles": 3,
            "exits": {"crashed": 1},
        },
        "workers": [
            {
                "pid": 42,
                "generation": 2,
                "phase": "ready",
                "uptime": 0.5,
                "served": 3,
                "in_flight": 1,
                "lag": 0.0,
                "rss": 7,
            }
        ],
        "retired": {"statuses": [0, 1], "buckets": [2], "duration_sum": 0.25},
    }

"""What one worker counts of its requests for /metrics: status classes and a duration
histogram. Kept only when some port has ADMIN_ENDPOINTS, so a service without metrics pays
nothing; the counts travel to the supervisor in each heartbeat (WorkerState.heartbeat), which adds up
all workers.
"""

from __future__ import annotations

# Upper bounds (seconds) of the request-duration histogram's buckets; +Inf is implied.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


class RequestStats:
    """Counters since the worker started; cumulative, as Prometheus counters are. The
    connection counts each request itself (http/pipeline.py, RequestPipeline.finish): three
    lines on the request path, no call."""

    __slots__ = ("buckets", "duration_sum", "statuses")

    def __init__(self) -> None:
        # Indexed by status // 100 (a Response's status is 100..599): slot 0 stays unused,
        # so no subtraction or range check runs per request.
        self.statuses = [0] * 6
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)  # not cumulative; the last is +Inf
        self.duration_sum = 0.0

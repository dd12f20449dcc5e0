"""Request metrics of the predict server for GET /metrics, summed over its worker processes.

prometheus_client keeps the values. Under the server, its multiprocess mode sums the workers:
serve.py points PROMETHEUS_MULTIPROC_DIR at a directory of the server's own before anything
imports prometheus_client (which reads the variable when it is imported), each worker writes its
values to files of its own there, and a scrape, whichever worker it reaches, adds up every file.
The files of a worker that has exited stay, so counters never go down when a worker is replaced,
as Prometheus expects of a counter; the master removes the directory when it exits. Outside the
server (tests, embedding) the values are this process's own.

Exposition (Prometheus text format 0.0.4):
  cortex_s2i_requests_total{route,status}                                   counter
  cortex_s2i_request_duration_seconds{route} (_bucket{le}, _sum, _count)    histogram
`route` is a route's path, `health`, `ready`, `metrics`, or `<unmatched>` for any other path
(never the path itself: a scanner's random paths must not create series without end).
Cortex APIs' prediction metrics (monitoring.py) share the registry and the exposition.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UNMATCHED = "<unmatched>"
CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

# Which process a value belongs to, for multiprocess mode: by default prometheus_client asks the
# kernel (os.getpid) on every increment, three system calls per request here. The process id
# kept since the last fork is the same answer; prometheus_client's MultiProcessValue takes the
# function that gives it (its `process_identifier`, which must differ between live processes).
_pid = os.getpid()


def _remember_pid() -> None:
    global _pid
    _pid = os.getpid()


def _this_process() -> int:
    return _pid


os.register_at_fork(after_in_child=_remember_pid)
if os.environ.get(MULTIPROCESS_VARIABLE):
    values.ValueClass = values.MultiProcessValue(  # type: ignore[no-untyped-call]
        process_identifier=_this_process)


class Registry:
    """Where a server's metrics are made, and their exposition: of every worker's files when
    `multiprocess_dir` is given (the server's), else of this process."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        summed = CollectorRegistry()
        MultiProcessCollector(summed, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(summed)


class RequestMetrics:
    """Counts answered requests by route label and status, with their durations."""

    def __init__(self, labels: Iterable[str], registry: Registry) -> None:
        self._known = set(labels) | {UNMATCHED}
        self._requests = Counter("cortex_s2i_requests", "Requests answered, by route and status.",
                                 ["route", "status"], registry=registry.registry)
        duration = Histogram("cortex_s2i_request_duration_seconds",
                             "Time to answer a request, by route.", ["route"], buckets=BUCKETS,
                             registry=registry.registry)
        # Made up front: every route has a histogram, used or not. The children are kept, since
        # labels() takes a lock and builds a key on every call.
        self._durations = {label: duration.labels(label) for label in sorted(self._known)}
        self._counts: dict[tuple[str, int], Counter] = {}

    def observe(self, label: str, status: int, seconds: float) -> None:
        """Counts one answered request; a label outside the routes counts as <unmatched>."""
        if label not in self._known:
            label = UNMATCHED
        key = (label, status)
        count = self._counts.get(key)
        if count is None:
            count = self._counts[key] = self._requests.labels(label, str(status))
        count.inc()
        self._durations[label].observe(seconds)

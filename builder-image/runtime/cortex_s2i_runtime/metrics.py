"""Request metrics of the predict server, summed over its worker processes, for GET /metrics.

Each worker counts into a file of its own, `metrics.<pid>` in the server's shared directory
(workers.py), through a memory map: an update is three additions under a per-process lock, with
no system call. A scrape, whichever worker it reaches, adds up every file, so the figures cover
the whole server. Files of workers that have exited are kept and still added: counters never go
down when gunicorn replaces a worker, which is what Prometheus expects of a counter. Outside the
server (tests) the counts live in anonymous memory and cover this process only.

Exposition is the Prometheus text format, version 0.0.4:
  cortex_s2i_requests_total{route,status}               counter
  cortex_s2i_request_duration_seconds{route} (_bucket{le}, _sum, _count)   histogram
`route` is the route's path, `health`, `ready`, `metrics`, or `<unmatched>` for any other path
(never the path itself: a scanner's random paths must not create series without end).
"""

import bisect
import hashlib
import mmap
import os
import struct
import threading
from array import array

STATUSES = (200, 400, 404, 405, 413, 415, 500, 503, 504)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
UNMATCHED = "<unmatched>"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_MAGIC = b"cs2imet1"
_HEADER = struct.Struct("<8s8s")  # magic, layout fingerprint; 16 bytes keeps the doubles aligned
_STATUS_INDEX = {status: i for i, status in enumerate(STATUSES)}
# Per label: a count per status, a count per bucket plus +Inf, and the sum of durations.
_STRIDE = len(STATUSES) + len(BUCKETS) + 2
_FILE_PREFIX = "metrics."


def _fingerprint(labels):
    layout = repr((tuple(labels), STATUSES, BUCKETS)).encode()
    return hashlib.blake2b(layout, digest_size=8).digest()


def worker_map(directory, prefix, size, header, pid=None):
    """This process's memory map of `size` bytes starting with `header`: `<prefix><pid>` in the
    server's shared directory, or anonymous memory when there is none (tests).

    A file left by an earlier worker with this pid keeps its values when its size and header
    (which fingerprints the layout) still fit; otherwise it starts again from zero.
    """
    if directory is None:
        mapped = mmap.mmap(-1, size)
    else:
        path = os.path.join(directory, "%s%d" % (prefix, os.getpid() if pid is None else pid))
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size != size or os.pread(fd, len(header), 0) != header:
                os.ftruncate(fd, 0)
                os.ftruncate(fd, size)
            mapped = mmap.mmap(fd, size)
        finally:
            os.close(fd)
    mapped[:len(header)] = header
    return mapped


def worker_files(directory, prefix, size, header):
    """The content of every worker's file (those of exited workers too) of this layout, by name."""
    found = []
    for name in sorted(os.listdir(directory)):
        if not name.startswith(prefix):
            continue
        try:
            with open(os.path.join(directory, name), "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        if len(data) == size and data[:len(header)] == header:
            found.append(data)
    return found


class Metrics:
    """Counts requests by label and status, and their durations, for this process."""

    def __init__(self, labels, directory=None, pid=None):
        self.labels = list(labels)
        self.directory = directory
        self._index = {label: i for i, label in enumerate(self.labels)}
        self._header = _HEADER.pack(_MAGIC, _fingerprint(self.labels))
        self._size = _HEADER.size + 8 * _STRIDE * len(self.labels)
        self._lock = threading.Lock()
        self._map = worker_map(directory, _FILE_PREFIX, self._size, self._header, pid)
        self._values = memoryview(self._map)[_HEADER.size:].cast("d")

    def observe(self, label, status, seconds):
        """Count one answered request; labels and statuses outside the layout are not counted."""
        position = self._index.get(label)
        status_index = _STATUS_INDEX.get(status)
        if position is None or status_index is None:
            return
        base = position * _STRIDE
        bucket = bisect.bisect_left(BUCKETS, seconds)  # le is inclusive: 0.005 falls in "0.005"
        values = self._values
        with self._lock:
            values[base + status_index] += 1
            values[base + len(STATUSES) + bucket] += 1
            values[base + _STRIDE - 1] += seconds

    def totals(self):
        """The values summed over every worker's file (or this process's, outside the server)."""
        if self.directory is None:
            return array("d", self._values.tobytes())
        total = array("d", bytes(self._size - _HEADER.size))
        for data in worker_files(self.directory, _FILE_PREFIX, self._size, self._header):
            for i, value in enumerate(array("d", data[_HEADER.size:])):
                total[i] += value
        return total

    def render(self, always=()):
        """The Prometheus text exposition; labels in `always` get a histogram even when unused."""
        values = self.totals()
        counters = ["# HELP cortex_s2i_requests_total Requests answered, by route and status.",
                    "# TYPE cortex_s2i_requests_total counter"]
        histograms = ["# HELP cortex_s2i_request_duration_seconds Time to answer a request, "
                      "by route.",
                      "# TYPE cortex_s2i_request_duration_seconds histogram"]
        for position, label in enumerate(self.labels):
            base = position * _STRIDE
            route = 'route="%s"' % _escape(label)
            count = 0
            for i, status in enumerate(STATUSES):
                answered = int(values[base + i])
                count += answered
                if answered:
                    counters.append('cortex_s2i_requests_total{%s,status="%d"} %d'
                                    % (route, status, answered))
            if not count and label not in always:
                continue
            cumulative = 0
            for i, bound in enumerate(BUCKETS + (None,)):
                cumulative += int(values[base + len(STATUSES) + i])
                histograms.append('cortex_s2i_request_duration_seconds_bucket{%s,le="%s"} %d'
                                  % (route, "+Inf" if bound is None else repr(bound), cumulative))
            histograms.append("cortex_s2i_request_duration_seconds_sum{%s} %s"
                              % (route, repr(round(values[base + _STRIDE - 1], 6))))
            histograms.append("cortex_s2i_request_duration_seconds_count{%s} %d" % (route, count))
        return "\n".join(counters + histograms) + "\n"


def _escape(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

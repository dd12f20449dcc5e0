"""Prediction monitoring of Cortex APIs (`monitoring`/`tracker` in cortex.yaml), for GET /metrics.

What an API predicts is counted apart from its requests:
  cortex_s2i_predictions_total{api,class}        counter, for model_type classification
  cortex_s2i_prediction_value{api} (_bucket{le}, _sum, _count)   histogram, for regression
  cortex_s2i_predictions_unrecorded_total{api}   answers with no usable prediction in them
The prediction is the answer's `key` when the answer is an object and a key is configured, the
answer itself otherwise (Cortex's rule).

Like metrics.py, each worker process counts into a memory-mapped file of its own in the server's
shared directory and a scrape adds up every file, so counters cover the whole server and never go
down when a worker is replaced. Class names are what models return, and a model can return
anything: each process records at most `max_classes` of them (first come, first kept) and counts
the rest as class "other", so the series stay bounded whatever the model answers.
"""

import bisect
import math
import struct
import threading

from . import metrics

CLASSIFICATION = "classification"
REGRESSION = "regression"
DEFAULT_MAX_CLASSES = 20
OTHER = "other"
# Predicted values of unknown scale: decades on both sides of zero; _sum and _count give the mean.
DEFAULT_BUCKETS = (-1e6, -1e4, -1e3, -100.0, -10.0, -1.0, -0.1, 0.0, 0.1, 1.0, 10.0, 100.0, 1e3,
                   1e4, 1e6)
NAME_BYTES = 64  # one length byte, then the class name in UTF-8, truncated to fit

_FILE_PREFIX = "monitoring."
_MAGIC = b"cs2imon1"


class ApiMonitoring:
    """What one API monitors: its name, the answer's key (or None) and its model type."""

    def __init__(self, api, key, model_type):
        if model_type not in (CLASSIFICATION, REGRESSION):
            raise ValueError("model_type must be classification or regression, got %r" % model_type)
        self.api, self.key, self.model_type = api, key, model_type


def parse_spec(text):
    """APIs to monitor from CORTEX_S2I_MONITORING: comma-separated `api:model_type[:key]`.

    Raises ValueError naming the entry, so that a bad value stops the server at startup.
    """
    apis = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) not in (2, 3) or not parts[0] or (len(parts) == 3 and not parts[2]):
            raise ValueError("CORTEX_S2I_MONITORING: %r is not api:model_type[:key]" % entry)
        if parts[0] in (a.api for a in apis):
            raise ValueError("CORTEX_S2I_MONITORING: API %r is listed twice" % parts[0])
        try:
            apis.append(ApiMonitoring(parts[0], parts[2] if len(parts) == 3 else None, parts[1]))
        except ValueError as err:
            raise ValueError("CORTEX_S2I_MONITORING: %s" % err) from None
    return apis


def from_environ(environ, directory=None):
    """The monitor CORTEX_S2I_MONITORING asks for, or None when it names no API."""
    apis = parse_spec(environ.get("CORTEX_S2I_MONITORING", ""))
    return PredictionMonitor(apis, directory) if apis else None


def prediction_of(answer, key):
    """The prediction in an answer: answer[key] when both apply, else the answer itself."""
    if key is not None and isinstance(answer, dict):
        return answer.get(key)
    return answer


def class_name(value):
    """A class label from a predicted value, or None when the value cannot be a class."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None


class _Layout:
    """Offsets of one API's values in a process's file."""

    def __init__(self, monitoring, max_classes, buckets):
        self.monitoring = monitoring
        if monitoring.model_type == CLASSIFICATION:
            # slots of (name, count), then "other", then unrecorded
            self.size = max_classes * (NAME_BYTES + 8) + 16
        else:
            # a count per bucket plus +Inf, the sum, then unrecorded
            self.size = (len(buckets) + 1) * 8 + 16


class PredictionMonitor:
    """Counts the predictions of the monitored APIs of this process."""

    def __init__(self, apis, directory=None, pid=None, max_classes=DEFAULT_MAX_CLASSES,
                 buckets=DEFAULT_BUCKETS):
        self.apis = list(apis)
        self.directory = directory
        self.max_classes = max_classes
        self.buckets = tuple(buckets)
        self._layouts = {}
        offset = len(_MAGIC) + 8
        for api in self.apis:
            layout = _Layout(api, max_classes, self.buckets)
            layout.offset = offset
            offset += layout.size
            self._layouts[api.api] = layout
        self._size = offset
        layout_id = repr(([(a.api, a.model_type) for a in self.apis], max_classes, self.buckets))
        self._header = _MAGIC + struct.pack("<q", hash_of(layout_id))
        self._lock = threading.Lock()
        self._slots = {api.api: {} for api in self.apis}  # class name -> slot, this process
        self._map = metrics.worker_map(directory, _FILE_PREFIX, self._size, self._header, pid)
        # A file left by an earlier worker with this pid keeps its classes and counts.
        for api in self.apis:
            if api.model_type == CLASSIFICATION:
                for slot, (name, _) in enumerate(self._classes(self._map, self._layouts[api.api])):
                    self._slots[api.api][name] = slot

    def observe(self, api, answer):
        """Count the prediction in one successful answer of `api` (other APIs are ignored)."""
        layout = self._layouts.get(api)
        if layout is None:
            return
        value = prediction_of(answer, layout.monitoring.key)
        base = layout.offset
        with self._lock:
            if layout.monitoring.model_type == CLASSIFICATION:
                name = class_name(value)
                if name is None:
                    return self._add(base + layout.size - 8, 1)
                slots = self._slots[api]
                slot = slots.get(name)
                if slot is None and len(slots) < self.max_classes:
                    slot = slots[name] = len(slots)
                    encoded = name.encode("utf-8")[:NAME_BYTES - 1]
                    encoded = encoded.decode("utf-8", "ignore").encode("utf-8")
                    start = base + slot * (NAME_BYTES + 8)
                    self._map[start:start + NAME_BYTES] = (bytes([len(encoded)]) + encoded).ljust(
                        NAME_BYTES, b"\0")
                if slot is None:
                    return self._add(base + self.max_classes * (NAME_BYTES + 8), 1)
                return self._add(base + slot * (NAME_BYTES + 8) + NAME_BYTES, 1)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                return self._add(base + layout.size - 8, 1)
            bucket = bisect.bisect_left(self.buckets, value)
            self._add(base + bucket * 8, 1)
            self._add(base + (len(self.buckets) + 1) * 8, value)

    def _add(self, offset, amount):
        (current,) = struct.unpack_from("<d", self._map, offset)
        struct.pack_into("<d", self._map, offset, current + amount)

    def _classes(self, data, layout):
        out = []
        for slot in range(self.max_classes):
            start = layout.offset + slot * (NAME_BYTES + 8)
            length = data[start]
            if length == 0:
                break
            name = bytes(data[start + 1:start + 1 + length]).decode("utf-8", "replace")
            (count,) = struct.unpack_from("<d", data, start + NAME_BYTES)
            out.append((name, count))
        return out

    def _files(self):
        if self.directory is None:
            return [bytes(self._map)]
        return metrics.worker_files(self.directory, _FILE_PREFIX, self._size, self._header)

    def render(self):
        """The Prometheus text exposition of every monitored API, summed over the workers."""
        files = self._files()
        counters = ["# HELP cortex_s2i_predictions_total Predictions by API and predicted class.",
                    "# TYPE cortex_s2i_predictions_total counter"]
        histograms = ["# HELP cortex_s2i_prediction_value Predicted values, by API.",
                      "# TYPE cortex_s2i_prediction_value histogram"]
        unrecorded = ["# HELP cortex_s2i_predictions_unrecorded_total Answers with no usable "
                      "prediction, by API.",
                      "# TYPE cortex_s2i_predictions_unrecorded_total counter"]
        for api in self.apis:
            layout = self._layouts[api.api]
            label = 'api="%s"' % _escape(api.api)
            missing = sum(struct.unpack_from("<d", data, layout.offset + layout.size - 8)[0]
                          for data in files)
            unrecorded.append("cortex_s2i_predictions_unrecorded_total{%s} %d" % (label, missing))
            if api.model_type == CLASSIFICATION:
                totals = {}
                for data in files:
                    for name, count in self._classes(data, layout):
                        totals[name] = totals.get(name, 0) + count
                    other_at = layout.offset + self.max_classes * (NAME_BYTES + 8)
                    other = struct.unpack_from("<d", data, other_at)[0]
                    if other:
                        totals[OTHER] = totals.get(OTHER, 0) + other
                for name in sorted(totals):
                    counters.append('cortex_s2i_predictions_total{%s,class="%s"} %d'
                                    % (label, _escape(name), totals[name]))
                continue
            cumulative = 0
            n = len(self.buckets) + 1
            for i, bound in enumerate(self.buckets + (None,)):
                cumulative += sum(struct.unpack_from("<d", d, layout.offset + i * 8)[0]
                                  for d in files)
                histograms.append('cortex_s2i_prediction_value_bucket{%s,le="%s"} %d'
                                  % (label, "+Inf" if bound is None else repr(float(bound)),
                                     cumulative))
            total = sum(struct.unpack_from("<d", d, layout.offset + n * 8)[0] for d in files)
            histograms.append("cortex_s2i_prediction_value_sum{%s} %s" % (label, repr(total)))
            histograms.append("cortex_s2i_prediction_value_count{%s} %d" % (label, cumulative))
        return "\n".join(counters + histograms + unrecorded) + "\n"


def hash_of(text):
    """A stable 63-bit fingerprint (Python's hash() differs between processes)."""
    value = 0
    for byte in text.encode("utf-8"):
        value = (value * 1099511628211 ^ byte) & 0x7FFFFFFFFFFFFFFF
    return value


def _escape(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

"""Prediction monitoring of Cortex APIs (`monitoring`/`tracker` in cortex.yaml), for GET /metrics.

What an API predicts is counted apart from its requests:
  cortex_s2i_predictions_total{api,class}        counter, for model_type classification
  cortex_s2i_prediction_value{api} (_bucket{le}, _sum, _count)   histogram, for regression
  cortex_s2i_predictions_unrecorded_total{api}   answers with no usable prediction in them
The prediction is the answer's `key` when the answer is an object and a key is configured, the
answer itself otherwise (Cortex's rule).

The values live in the server's prometheus_client registry (metrics.py), summed over the workers.
Class names are what models return, and a model can return anything: each worker process records
at most `max_classes` of them (first come, first kept; a name cut to 63 bytes) and counts the
rest as class "other", so the series stay bounded whatever the model answers.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # prometheus_client only once a monitor is made (see metrics.py)
    from .metrics import Registry

CLASSIFICATION = "classification"
REGRESSION = "regression"
DEFAULT_MAX_CLASSES = 20
OTHER = "other"
# Predicted values of unknown scale: decades on both sides of zero; _sum and _count give the mean.
DEFAULT_BUCKETS = (-1e6, -1e4, -1e3, -100.0, -10.0, -1.0, -0.1, 0.0, 0.1, 1.0, 10.0, 100.0, 1e3,
                   1e4, 1e6)
NAME_BYTES = 63


class ApiMonitoring:
    """What one API monitors: its name, the answer's key (or None) and its model type."""

    def __init__(self, api: str, key: str | None, model_type: str) -> None:
        if model_type not in (CLASSIFICATION, REGRESSION):
            raise ValueError("model_type must be classification or regression, got %r" % model_type)
        self.api, self.key, self.model_type = api, key, model_type


def prediction_of(answer: Any, key: str | None) -> Any:
    """The prediction in an answer: answer[key] when both apply, else the answer itself."""
    if key is not None and isinstance(answer, dict):
        return answer.get(key)
    return answer


def class_name(value: Any) -> str | None:
    """A class label from a predicted value, or None when the value cannot be a class."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        name = str(value)
    elif isinstance(value, float) and math.isfinite(value):
        name = repr(value)
    else:
        return None
    return name.encode("utf-8")[:NAME_BYTES].decode("utf-8", "ignore")


class PredictionMonitor:
    """Counts the predictions of the monitored APIs of this process."""

    def __init__(self, apis: Iterable[ApiMonitoring], registry: Registry,
                 max_classes: int = DEFAULT_MAX_CLASSES,
                 buckets: Iterable[float] = DEFAULT_BUCKETS) -> None:
        from prometheus_client import Counter, Histogram
        self.apis = {api.api: api for api in apis}
        self.max_classes = max_classes
        self._lock = threading.Lock()
        self._classes: dict[str, set[str]] = {name: set() for name in self.apis}
        self._predictions = Counter("cortex_s2i_predictions",
                                    "Predictions by API and predicted class.", ["api", "class"],
                                    registry=registry.registry)
        self._values = Histogram("cortex_s2i_prediction_value", "Predicted values, by API.",
                                 ["api"], buckets=tuple(buckets), registry=registry.registry)
        self._unrecorded = Counter("cortex_s2i_predictions_unrecorded",
                                   "Answers with no usable prediction, by API.", ["api"],
                                   registry=registry.registry)
        for name, api in self.apis.items():
            self._unrecorded.labels(name)  # every API has the series, at 0 until it counts
            if api.model_type == REGRESSION:
                self._values.labels(name)

    def observe(self, api: str, answer: Any) -> None:
        """Counts the prediction in one successful answer of `api` (other APIs are ignored)."""
        monitoring = self.apis.get(api)
        if monitoring is None:
            return
        value = prediction_of(answer, monitoring.key)
        if monitoring.model_type == CLASSIFICATION:
            name = class_name(value)
            if name is None:
                self._unrecorded.labels(api).inc()
                return
            with self._lock:
                known = self._classes[api]
                if name not in known:
                    if len(known) >= self.max_classes:
                        name = OTHER
                    else:
                        known.add(name)
            self._predictions.labels(api, name).inc()
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            self._unrecorded.labels(api).inc()
            return
        self._values.labels(api).observe(value)

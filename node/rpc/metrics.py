"""A small, dependency-free metrics registry with Prometheus text output.

    metrics = Metrics()
    blocks = metrics.counter("blocks_total", "Blocks produced")
    blocks.inc()
    lag = metrics.gauge("sync_lag_blocks", "Blocks behind the head")
    lag.set(3, peer="a")
    metrics.gauge_fn("mempool_size", "Pending transactions", lambda: len(pool))
    print(metrics.render())  # text exposition format 0.0.4

Each metric holds its own lock, so updates from worker threads are safe.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

LabelKey = tuple[tuple[str, str], ...]
GaugeFnResult = float | int | Iterable[tuple[Mapping[str, str], float]]


class MetricsError(ValueError):
    """Invalid metric name, label or value, or a conflicting registration."""


def _label_key(labels: Mapping[str, object]) -> LabelKey:
    for key in labels:
        if not _LABEL_NAME.fullmatch(key) or key.startswith("__"):
            raise MetricsError(f"invalid label name {key!r}")
    return tuple(sorted((k, str(v)) for k, v in labels.items()))


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _sample(name: str, key: LabelKey, value: float) -> str:
    if not key:
        return f"{name} {format_value(value)}"
    labels = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in key)
    return f"{name}{{{labels}}} {format_value(value)}"


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help = help_text
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError


class Counter(_Metric):
    """A monotonically increasing value per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name, help_text)
        self._values: dict[LabelKey, float] = {}

    def inc(self, amount: float = 1, **labels: object) -> None:
        if amount < 0:
            raise MetricsError(f"counter {self.name} cannot decrease (inc by {amount})")
        key = _label_key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def value(self, **labels: object) -> float:
        with self._lock:
            return self._values.get(_label_key(labels), 0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [_sample(self.name, key, value) for key, value in items]


class Gauge(_Metric):
    """A value that can go up and down, per label set."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name, help_text)
        self._values: dict[LabelKey, float] = {}

    def set(self, value: float, **labels: object) -> None:
        key = _label_key(labels)
        with self._lock:
            self._values[key] = value

    def inc(self, amount: float = 1, **labels: object) -> None:
        key = _label_key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def dec(self, amount: float = 1, **labels: object) -> None:
        self.inc(-amount, **labels)

    def value(self, **labels: object) -> float:
        with self._lock:
            return self._values.get(_label_key(labels), 0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [_sample(self.name, key, value) for key, value in items]


class _HistogramSeries:
    __slots__ = ("counts", "sum", "count")

    def __init__(self, n_buckets: int) -> None:
        self.counts = [0] * n_buckets
        self.sum = 0.0
        self.count = 0


class Histogram(_Metric):
    """Observations counted into cumulative `le` buckets, plus `_sum` and `_count`."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        super().__init__(name, help_text)
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        if len(set(bounds)) != len(bounds):
            raise MetricsError(f"histogram {name} has duplicate buckets")
        self.buckets: tuple[float, ...] = (*bounds, math.inf)
        self._series: dict[LabelKey, _HistogramSeries] = {}

    def observe(self, value: float, **labels: object) -> None:
        if "le" in labels:
            raise MetricsError("'le' is reserved for histogram buckets")
        key = _label_key(labels)
        index = bisect_left(self.buckets, value)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _HistogramSeries(len(self.buckets))
            series.counts[index] += 1
            series.sum += value
            series.count += 1

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted((key, list(s.counts), s.sum, s.count) for key, s in self._series.items())
        lines: list[str] = []
        for key, counts, total, count in items:
            cumulative = 0
            for bound, n in zip(self.buckets, counts):
                cumulative += n
                le = (("le", format_value(bound)),)
                lines.append(_sample(f"{self.name}_bucket", tuple(sorted(key + le)), cumulative))
            lines.append(_sample(f"{self.name}_sum", key, total))
            lines.append(_sample(f"{self.name}_count", key, count))
        return lines


class CallbackGauge(_Metric):
    """A gauge whose value(s) come from a callable evaluated at render time.

    The callable returns a number, or an iterable of (labels, value) pairs.
    """

    kind = "gauge"

    def __init__(self, name: str, help_text: str, fn: Callable[[], GaugeFnResult]) -> None:
        super().__init__(name, help_text)
        self._fn = fn

    def samples(self) -> list[str]:
        try:
            result = self._fn()
            if isinstance(result, (int, float)):
                return [_sample(self.name, (), result)]
            pairs = sorted((_label_key(labels), value) for labels, value in result)
        except Exception:
            log.warning("metrics: callback for gauge %s failed; omitting it", self.name, exc_info=True)
            return []
        return [_sample(self.name, key, value) for key, value in pairs]


class Metrics:
    """A registry of named metrics, rendered together in Prometheus text format."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}
        self._lock = threading.Lock()

    def _register(self, metric: _Metric) -> _Metric:
        if not _METRIC_NAME.fullmatch(metric.name):
            raise MetricsError(f"invalid metric name {metric.name!r}")
        with self._lock:
            existing = self._metrics.get(metric.name)
            if existing is None:
                self._metrics[metric.name] = metric
                return metric
        if type(existing) is type(metric) and not isinstance(metric, CallbackGauge):
            if isinstance(metric, Histogram) and metric.buckets != existing.buckets:  # type: ignore[attr-defined]
                raise MetricsError(f"histogram {metric.name} already registered with other buckets")
            return existing
        raise MetricsError(f"metric {metric.name} is already registered as a {existing.kind}")

    def counter(self, name: str, help: str) -> Counter:
        """Register (or fetch the existing) counter `name`."""
        return self._register(Counter(name, help))  # type: ignore[return-value]

    def gauge(self, name: str, help: str) -> Gauge:
        """Register (or fetch the existing) gauge `name`."""
        return self._register(Gauge(name, help))  # type: ignore[return-value]

    def histogram(self, name: str, help: str, buckets: Sequence[float] = DEFAULT_BUCKETS) -> Histogram:
        """Register (or fetch the existing) histogram `name`."""
        return self._register(Histogram(name, help, buckets))  # type: ignore[return-value]

    def gauge_fn(self, name: str, help: str, fn: Callable[[], GaugeFnResult]) -> None:
        """Register a gauge computed by `fn()` each time the registry is rendered."""
        self._register(CallbackGauge(name, help, fn))

    def render(self) -> str:
        """All metrics in Prometheus text exposition format 0.0.4, sorted by name."""
        with self._lock:
            metrics = sorted(self._metrics.values(), key=lambda m: m.name)
        lines: list[str] = []
        for metric in metrics:
            lines.extend(metric.header())
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n" if lines else ""


def parse_exposition(text: str) -> dict[str, float]:
    """A Prometheus text exposition (what /metrics serves) as {series with labels: value}; comments and
    unparsable lines are skipped. For benchmarks and tests reading a node's metrics."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            try:
                values[key] = float(value)
            except ValueError:
                pass
    return values

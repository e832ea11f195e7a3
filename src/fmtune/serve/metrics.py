"""Prometheus text exposition for the endpoint: requests, tokens, latency, batching. No client library needed."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Callable

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _format(labels: Labels, extra: Labels = ()) -> str:
    items = labels + extra
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}" if items else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters and histograms keyed by labels; gauges read live from callbacks at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
        self._histograms: dict[str, tuple[tuple[float, ...], dict[Labels, list[float]]]] = {}
        self._help: dict[str, str] = {}
        self._gauges: dict[str, Callable[[], float]] = {}

    def describe(self, name: str, text: str) -> None:
        self._help[name] = text

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        with self._lock:
            self._counters[name][_labels(labels)] += value

    def observe(self, name: str, value: float, buckets: tuple[float, ...] = LATENCY_BUCKETS, **labels: str) -> None:
        with self._lock:
            bounds, series = self._histograms.setdefault(name, (buckets, {}))
            counts = series.setdefault(_labels(labels), [0.0] * (len(bounds) + 2))  # buckets, +Inf, sum
            counts[bisect.bisect_left(bounds, value)] += 1
            counts[-1] += value

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        self._gauges[name] = read

    def counter_value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get(name, {}).get(_labels(labels), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self._counters.items()):
                lines += self._header(name, "counter")
                lines += [f"{name}{_format(labels)} {value:g}" for labels, value in sorted(series.items())]
            for name, (bounds, series) in sorted(self._histograms.items()):
                lines += self._header(name, "histogram")
                for labels, counts in sorted(series.items()):
                    running = 0.0
                    for bound, count in zip((*bounds, float("inf")), counts[:-1], strict=True):
                        running += count
                        le = "+Inf" if bound == float("inf") else f"{bound:g}"
                        lines.append(f"{name}_bucket{_format(labels, (('le', le),))} {running:g}")
                    lines.append(f"{name}_sum{_format(labels)} {counts[-1]:g}")
                    lines.append(f"{name}_count{_format(labels)} {running:g}")
        for name, read in sorted(self._gauges.items()):
            lines += self._header(name, "gauge")
            lines.append(f"{name} {read():g}")
        return "\n".join(lines) + "\n"

    def _header(self, name: str, kind: str) -> list[str]:
        text = self._help.get(name)
        return ([f"# HELP {name} {text}"] if text else []) + [f"# TYPE {name} {kind}"]


def endpoint_metrics() -> Metrics:
    metrics = Metrics()
    for name, text in {
        "fmtune_requests_total": "HTTP requests by route and status code.",
        "fmtune_request_duration_seconds": "HTTP request latency by route (streams: until the last byte).",
        "fmtune_prompt_tokens_total": "Input tokens of admitted generation requests, by model.",
        "fmtune_generation_tokens_total": "Generated tokens, by model.",
        "fmtune_generation_requests_total": "Finished generations by model and finish reason.",
        "fmtune_time_to_first_token_seconds": "Queue wait plus prefill until the first generated token.",
        "fmtune_batch_size": "Requests generated together in one batched generate call.",
        "fmtune_rejected_requests_total": "Requests refused by a limit, by reason.",
        "fmtune_requests_running": "Requests in the batch being generated now.",
        "fmtune_requests_waiting": "Admitted requests waiting for the next batch.",
    }.items():
        metrics.describe(name, text)
    return metrics

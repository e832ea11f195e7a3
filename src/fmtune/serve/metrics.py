"""The endpoint's Prometheus metrics (prometheus-client): requests, tokens, latency, batching, queue."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
disable_created_metrics()  # no *_created series: scrapers compute rates from the counters themselves

# name -> (kind, help, label names, histogram buckets)
METRICS: dict[str, tuple[str, str, tuple[str, ...], tuple[float, ...]]] = {
    "fmtune_requests_total": ("counter", "HTTP requests by route and status code.", ("route", "status"), ()),
    "fmtune_request_duration_seconds": (
        "histogram", "HTTP request latency by route (streams: until the last byte).", ("route",), LATENCY_BUCKETS),
    "fmtune_prompt_tokens_total": ("counter", "Input tokens of admitted generation requests, by model.",
                                   ("model",), ()),
    "fmtune_generation_tokens_total": ("counter", "Generated tokens, by model.", ("model",), ()),
    "fmtune_generation_requests_total": ("counter", "Finished generations by model and finish reason.",
                                         ("model", "finish_reason"), ()),
    "fmtune_time_to_first_token_seconds": (
        "histogram", "Queue wait plus prefill until the first generated token.", (), LATENCY_BUCKETS),
    "fmtune_batch_size": ("histogram", "Requests generated together in one batched generate call.", (),
                          BATCH_BUCKETS),
    "fmtune_images_generated_total": ("counter", "Images generated (text-to-image endpoints), by model.",
                                      ("model",), ()),
    "fmtune_rejected_requests_total": ("counter", "Requests refused by a limit, by reason.", ("reason",), ()),
    "fmtune_requests_running": ("gauge", "Requests in the batch being generated now.", (), ()),
    "fmtune_requests_waiting": ("gauge", "Admitted requests waiting for the next batch.", (), ()),
}


class Metrics:
    """One endpoint's metrics in a registry of its own (several engines in one process never mix)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._metrics = {name: _make(name, *spec, self.registry) for name, spec in METRICS.items()}

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        self._series(name, labels).inc(value)

    def observe(self, name: str, value: float, **labels: str) -> None:
        self._series(name, labels).observe(value)

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        """A gauge read live at scrape time."""
        self._metrics[name].set_function(read)

    def counter_value(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def render(self) -> str:
        return generate_latest(self.registry).decode()

    def _series(self, name: str, labels: dict[str, str]):
        metric = self._metrics[name]
        return metric.labels(**labels) if labels else metric


def _make(name: str, kind: str, text: str, labels: tuple[str, ...], buckets: tuple[float, ...],
          registry: CollectorRegistry):
    if kind == "counter":
        return Counter(name, text, labels, registry=registry)
    if kind == "histogram":
        return Histogram(name, text, labels, buckets=buckets, registry=registry)
    return Gauge(name, text, labels, registry=registry)

"""Load test of a local endpoint (loopback only, bounded): the same requests sent concurrently and one at a time.

    python bench/load_test.py                          # 64 requests, concurrency 16, embedded model
    python bench/load_test.py --requests 32 --concurrency 8 --max-tokens 32 --model my-job

Starts a managed endpoint (`fmtune.serve.start_endpoint`) on 127.0.0.1, sends one warm-up request, then
the requests at the given concurrency, then the same requests sequentially, and prints both throughputs in
generated tokens/s. Dynamic batching should make the concurrent run clearly faster. Exit code 1 on any error
or when the speedup is below --min-speedup. --budget-s bounds the whole run (a phase that runs out of time
stops sending and reports what it measured).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

TOPICS = [
    "the ocean", "mountains", "a library", "the moon", "coffee", "bicycles", "rain", "an old map", "the desert",
    "a violin", "trains", "winter", "a garden", "the stars", "bread", "a lighthouse",
]
STARTS = ["Here is a short story about", "A few facts about", "Why people love", "The history of"]


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    tokens: int = 0
    done: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def report(self) -> str:
        rate = self.tokens / self.seconds if self.seconds else 0.0
        p50 = statistics.median(self.latencies) if self.latencies else 0.0
        p95 = sorted(self.latencies)[int(0.95 * (len(self.latencies) - 1))] if self.latencies else 0.0
        return (f"{self.name:<22} {self.done:>3} requests  {self.tokens:>5} tokens  {self.seconds:7.1f} s  "
                f"{rate:7.1f} generated tokens/s  latency p50 {p50:5.1f} s p95 {p95:5.1f} s  "
                f"errors {len(self.errors)}")

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def prompts(count: int) -> list[str]:
    return [f"{STARTS[i % len(STARTS)]} {TOPICS[(i // len(STARTS)) % len(TOPICS)]}:" for i in range(count)]


def run_phase(name: str, client, requests: list[str], concurrency: int, max_tokens: int, deadline: float) -> Phase:
    from fmtune.serve import EndpointError

    phase = Phase(name)
    lock = threading.Lock()

    def one(prompt: str) -> None:
        if time.monotonic() > deadline:
            return
        started = time.monotonic()
        try:
            response = client.complete(prompt, max_tokens=max_tokens, temperature=0)
        except EndpointError as err:
            with lock:
                phase.errors.append(str(err))
            return
        with lock:
            phase.latencies.append(time.monotonic() - started)
            phase.tokens += response["usage"]["completion_tokens"]
            phase.done += 1

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, requests))
    phase.seconds = time.monotonic() - started
    return phase


def mean_batch_size(metrics_text: str) -> float:
    values = {}
    for line in metrics_text.splitlines():
        if line.startswith(("fmtune_batch_size_sum", "fmtune_batch_size_count")):
            name, value = line.rsplit(" ", 1)
            values[name.split("{")[0]] = float(value)
    count = values.get("fmtune_batch_size_count", 0.0)
    return values.get("fmtune_batch_size_sum", 0.0) / count if count else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="job, model folder or model id (default: the embedded model)")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=16, help="new tokens per request")
    parser.add_argument("--budget-s", type=float, default=900.0, help="upper bound for the whole run")
    parser.add_argument("--min-speedup", type=float, default=1.5)
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or args.max_tokens < 1:
        parser.error("--requests, --concurrency and --max-tokens must be >= 1")

    from fmtune.catalog import DEFAULT_MODEL_ID
    from fmtune.serve import ServeSettings, start_endpoint, stop_endpoint

    model = args.model or DEFAULT_MODEL_ID
    budget_end = time.monotonic() + args.budget_s
    settings = ServeSettings(max_batch_size=args.concurrency, batch_wait_ms=10.0)
    print(f"starting an endpoint for {model} on 127.0.0.1 ...", flush=True)
    endpoint = start_endpoint(model, name=f"load-test-{int(time.time())}", settings=settings,
                              timeout=max(60.0, args.budget_s / 3))
    try:
        client = endpoint.client(timeout=600)
        client.complete("Warm-up:", max_tokens=2, temperature=0)
        work = prompts(args.requests)
        # Leave the sequential phase about as long as the concurrent one may take, within the budget.
        concurrent = run_phase(f"concurrency {args.concurrency}", client, work, args.concurrency, args.max_tokens,
                               deadline=budget_end - (budget_end - time.monotonic()) / 2)
        batches = mean_batch_size(client.metrics())
        sequential = run_phase("one at a time", client, work, 1, args.max_tokens, deadline=budget_end)
    finally:
        stop_endpoint(endpoint)

    print(f"model {model}, {args.requests} requests x {args.max_tokens} new tokens (greedy), loopback")
    print(concurrent.report())
    print(sequential.report())
    speedup = concurrent.rate / sequential.rate if sequential.rate else float("inf")
    print(f"mean batch size while concurrent: {batches:.1f}; throughput speedup from dynamic batching: "
          f"{speedup:.2f}x")
    errors = concurrent.errors + sequential.errors
    for error in errors[:5]:
        print(f"error: {error}", file=sys.stderr)
    if sequential.done < args.requests:
        print(f"note: the budget allowed {sequential.done} of {args.requests} sequential requests; "
              "their throughput is measured on those.")
    if errors or speedup < args.min_speedup:
        print(f"FAILED: {len(errors)} errors, speedup {speedup:.2f}x (wanted >= {args.min_speedup}x)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

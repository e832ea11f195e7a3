"""Where a fine-tuning run's time goes: the real `fmtune train`, in this process, under torch.profiler.

    python bench/profile_run.py                                  # the default run: 96 instruction rows
    python bench/profile_run.py --dataset domain -H precision=fp32 --max-train-samples 24

It runs the same job as bench/compare_trl.py's fmtune row (SmolLM2-135M-Instruct, LoRA r=8/alpha=32 on all
linear layers, lr 1e-4, batch 4, 1 epoch, max length 256, seed 10), with the recipe in this process instead of
its own, and prints one table: seconds per phase (fmtune's `fmtune: ...` profiler ranges: start-up, collation,
forward + loss, backward, optimizer, validation loss, saving, the end-of-job evaluation) split by operator
group (matmuls, attention, LoRA dropout, the output layer + loss, optimizer kernels, dtype casts and copies,
other tensor ops) plus what no operator accounts for: Python and framework overhead. The profiler itself adds
a few microseconds per operator (the run is ~10% slower than unprofiled); the shares are what to read.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from compare_trl import DATASETS, SETTINGS, copy_rows, fmtune_command, prepare_model  # noqa: E402

from fmtune.models.dropout import DROPOUT_RANGE  # noqa: E402

PHASE_PREFIX = "fmtune: "
# operator group: the aten names (or profiler ranges) it holds; checked in order, first match wins. Eager attention
# is its batched matmuls and softmax: in these decoder models the linear layers run as mm/addmm, the loss as
# log_softmax, so bmm and softmax are attention's alone.
GROUPS = [
    ("output layer + loss", ("LinearCrossEntropy",), "range"),
    ("optimizer", ("Optimizer.", "aten::_foreach", "clip_grad"), "range"),
    ("LoRA dropout", (DROPOUT_RANGE,), "range"),  # a range inside the forward and backward phases, not a phase
    ("attention", ("aten::_scaled_dot_product", "aten::scaled_dot_product", "aten::bmm", "aten::baddbmm",
                   "aten::_softmax", "aten::softmax"), "op"),
    ("matmuls", ("aten::mm", "aten::addmm", "aten::linear", "aten::matmul", "aten::_mkldnn", "aten::mkldnn"), "op"),
    ("dtype casts, copies", ("aten::copy_", "aten::_to_copy", "aten::to", "aten::contiguous", "aten::clone"), "op"),
]
OTHER = "other tensor ops"
UNTRACKED = "Python / framework (no operator)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="instruction")
    parser.add_argument("--max-train-samples", type=int, metavar="N")
    parser.add_argument("-H", dest="hp", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--workdir", help="keep the job and profile.json here (default: a new temp dir)")
    parser.add_argument("--top", type=int, default=0, metavar="N",
                        help="also list each training phase's N operators with the most self time")
    args = parser.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="fmtune-profile-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
    model_dir = prepare_model(dict(os.environ))
    train_src, val_src, data_hp = DATASETS[args.dataset]
    train = copy_rows(train_src, work / f"train{train_src.suffix}", args.max_train_samples)
    spec = {"train": str(train), "validation": str(val_src), "settings": SETTINGS}
    hp = {**data_hp, **dict(kv.split("=", 1) for kv in args.hp)}
    command = fmtune_command(spec, hp, work / "job")
    print(f"profiling: {' '.join(command[1:])}\nmodel: {model_dir}", flush=True)
    (table, operators), wall = profile(command[command.index("train"):])
    print_table(table, wall, args.dataset, hp)
    if args.top:
        print_top(operators, args.top)
    (work / "profile.json").write_text(json.dumps({"wall_seconds": wall, "seconds": table, "operators": operators},
                                                  indent=2))
    print(f"\njob and profile.json in {work}")
    return 0


Table = dict[str, dict[str, float]]
Operators = dict[str, dict[str, tuple[float, int]]]


def profile(cli_args: list[str]) -> tuple[tuple[Table, Operators], float]:
    """Run `fmtune <cli_args>` with its recipe in this process under the profiler; seconds per (phase, group),
    and (self seconds, calls) per (phase, operator)."""
    import torch
    from torch.profiler import ProfilerActivity

    from fmtune.cli.main import main as fmtune
    from fmtune.jobs import runner

    def launch_here(job: Any, layout: Any, *, detach: bool, resume: bool) -> int:
        recipe = importlib.import_module(runner.get_task(job.task).recipe)
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            return recipe.main(["--job-dir", job.job_dir])
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    runner._launch = launch_here
    started = time.perf_counter()
    with torch.profiler.profile(activities=[ProfilerActivity.CPU]) as prof:
        code = fmtune(cli_args)
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"fmtune train exited {code}")
    return group(prof.events(), wall), wall


def group(events: Any, wall: float) -> tuple[Table, Operators]:
    """Self time of every operator by (phase, group) and by (phase, operator); each phase's untracked time = its
    ranges' wall time minus its operators' self time. Phases are the outermost `fmtune: ...` range around an
    event."""
    table: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    operators: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0]))
    phase_wall: dict[str, float] = defaultdict(float)

    def ancestors(event: Any) -> list[Any]:
        chain = []
        while event is not None:
            chain.append(event)
            event = event.cpu_parent
        return chain

    for event in events:
        if event.device_type.name != "CPU":
            continue
        chain = ancestors(event)
        phases = [e.name[len(PHASE_PREFIX):] for e in chain if is_phase(e)]
        phase = phases[-1] if phases else "start-up and the rest"
        if event.name.startswith(PHASE_PREFIX):
            if is_phase(event) and len(phases) == 1:  # an outermost phase range: its wall time
                phase_wall[phase] += event.cpu_time_total / 1e6
            continue
        table[phase][category(chain)] += event.self_cpu_time_total / 1e6
        operators[phase][event.name][0] += event.self_cpu_time_total / 1e6
        operators[phase][event.name][1] += 1
    phase_wall["start-up and the rest"] = wall - sum(phase_wall.values())
    for phase, seconds in phase_wall.items():
        table[phase][UNTRACKED] = max(0.0, seconds - sum(v for k, v in table[phase].items() if k != UNTRACKED))
    return ({phase: dict(groups) for phase, groups in table.items()},
            {phase: {name: tuple(totals) for name, totals in ops.items()} for phase, ops in operators.items()})


def is_phase(event: Any) -> bool:
    return event.name.startswith(PHASE_PREFIX) and event.name != DROPOUT_RANGE


def category(chain: list[Any]) -> str:
    for name, prefixes, kind in GROUPS:
        candidates = chain if kind == "range" else chain[:1]
        if any(e.name.startswith(prefixes) for e in candidates):
            return name
    return OTHER


def print_table(table: dict[str, dict[str, float]], wall: float, dataset: str, hp: dict[str, str]) -> None:
    columns = [name for name, _, _ in GROUPS] + [OTHER, UNTRACKED]
    order = ["start-up and the rest", "collate", "forward + loss", "backward", "optimizer", "checkpoint",
             "validation loss", "save", "evaluation"]
    phases = [p for p in order if p in table] + sorted(set(table) - set(order))
    print(f"\n## where the time goes: {dataset} data, {hp or 'defaults'}; {wall:.1f} s profiled\n")
    print("| phase | total s | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    totals: dict[str, float] = defaultdict(float)
    for phase in phases:
        row = table[phase]
        for column in columns:
            totals[column] += row.get(column, 0.0)
        print(f"| {phase} | {sum(row.values()):.1f} | " + " | ".join(f"{row.get(c, 0.0):.1f}" for c in columns) + " |")
    total = sum(totals.values())
    print(f"| **all** | **{total:.1f}** | " + " | ".join(f"{totals[c]:.1f} ({totals[c] / total:.0%})"
                                                        for c in columns) + " |")


def print_top(operators: Operators, n: int) -> None:
    for phase in ("forward + loss", "backward"):
        top = sorted(operators.get(phase, {}).items(), key=lambda item: -item[1][0])[:n]
        print(f"\n{phase}: the {len(top)} operators with the most self time\n")
        print("| operator | self s | calls |\n|---|---:|---:|")
        for name, (seconds, calls) in top:
            print(f"| {name} | {seconds:.2f} | {calls} |")


if __name__ == "__main__":
    sys.exit(main())

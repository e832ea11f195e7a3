"""fmtune vs TRL `SFTTrainer` vs plain HF `Trainer` + PEFT: same data, same settings, one process tree.

    python bench/compare_trl.py                       # instruction + domain data, all rows (10-15 min on 2 CPU cores)
    python bench/compare_trl.py --quick               # 24 rows each: a smoke run (~4 min)
    python bench/compare_trl.py --skip-trl --max-train-samples 48 --datasets instruction -H packing=True

Every run trains the embedded SmolLM2-135M-Instruct with LoRA r=8/alpha=32 (dropout 0.05) on all linear
layers, lr 1e-4, batch 4, 1 epoch, max length 256, seed 10, in its own subprocess started by a wrapper
process that reports the run's wall time and peak RSS (getrusage RUSAGE_CHILDREN). fmtune runs through
its real CLI (`fmtune train`); TRL with its defaults for prompt/completion (or text) data; HF Trainer with
a plain causal-LM collator. One evaluation function then loads each run's adapter onto the same base and
computes the mean token loss on the same validation file (completion tokens + EOS for instruction data,
all tokens of 256-token blocks for domain text). See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
DATASETS = {
    # name: (training file, validation file, fmtune hyperparameters for the data format)
    "instruction": (SAMPLES / "instruction" / "train" / "data.jsonl", SAMPLES / "instruction" / "validation" /
                    "data.jsonl", {"instruction_tuned": "True"}),
    "domain": (SAMPLES / "domain" / "train.csv", SAMPLES / "domain" / "validation.csv", {}),
}
SETTINGS = {"lora_r": 8, "lora_alpha": 32, "lora_dropout": 0.05, "learning_rate": 1e-4, "batch_size": 4,
            "epochs": 1, "max_length": 256, "seed": 10}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]  # all linear layers
RUNS = ("fmtune", "fmtune-gc", "trl", "hf")
# fmtune-gc: fmtune with gradient checkpointing, which TRL turns on by default: the like-for-like memory row
FMTUNE_VARIANTS = {"fmtune": {}, "fmtune-gc": {"gradient_checkpointing": "True"}}
# fmtune ends every job with a generation evaluation of base and tuned model (evaluation_samples rows), which
# TRL and HF do not do: it is turned off here so that the whole commands do the same work (bench/README.md).
FMTUNE_SHARED = {"evaluation_samples": "0"}
# fmtune log lines that mark the end of each phase, in order (the wrapper stamps every line it reads)
PHASE_MARKS = (("start-up", "data: "), ("model load", "model: "), ("training + validation", "best epoch: "),
               ("saving", "saved adapter"))
LABELS = {"fmtune": "fmtune", "fmtune-gc": "fmtune +grad ckpt", "trl": "TRL SFTTrainer", "hf": "HF Trainer+PEFT",
          "base": "base (untrained)"}
FIRST_STEP_LINE = "checkpoint step-00000001"  # logged after step 1 with checkpoint_steps=1: the run can stop
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10G": 125e12}


# --- the parent: prepare data, start the runs, print the table -----------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--internal"]:  # a child process of the bench: wrap | train | eval
        return internal(argv[1:])
    args = parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="fmtune-bench-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = child_env(work)
    if args.threads:  # the same for every run; torch reads it when it starts
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)
    model_dir = prepare_model(env)
    peaks = matmul_peaks(model_dir)
    print("matmul peaks on this machine (model's MLP shapes, best of 10): " + ", ".join(
        f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in peaks.items()), flush=True)
    limit = args.max_train_samples or (24 if args.quick else None)
    runs = [r for r in RUNS if not (args.skip_trl and r == "trl")]
    started = time.monotonic()
    print(f"fmtune bench: work dir {work}; model {model_dir}", flush=True)
    results: dict[str, Any] = {"machine": machine(), "command": " ".join(map(shlex.quote, sys.argv)),
                               "settings": SETTINGS, "matmul_peaks": peaks, "datasets": {}}
    for name in args.datasets:
        train_src, val_src, data_hp = DATASETS[name]
        fmtune_hp = {**data_hp, **FMTUNE_SHARED, **dict(kv.split("=", 1) for kv in args.fmtune_hp)}
        data = work / name
        data.mkdir(exist_ok=True)
        train_file = copy_rows(train_src, data / f"train{train_src.suffix}", limit)
        spec = {"dataset": name, "train": str(train_file), "validation": str(val_src), "model_dir": str(model_dir),
                "settings": SETTINGS, "lora_targets": LORA_TARGETS, "fmtune_hyperparameters": fmtune_hp}
        per_run: dict[str, Any] = {}
        for run in runs:
            per_run[run] = train_run(run, spec, fmtune_hp, data / run, env)
        if name == args.datasets[0]:  # after the runs: model and token caches warm, as for a user's second run
            per_run["fmtune_first_step"] = first_step_run(spec, fmtune_hp, data, env)
        per_run["eval"] = run_json([sys.executable, __file__, "--internal", "eval", write_spec(data / "eval.json", {
            **spec, "adapters": {r: per_run[r].get("adapter") for r in runs}})], env)
        results["datasets"][name] = per_run
        print_table(name, spec, per_run, runs, peaks)
    (work / "results.json").write_text(json.dumps(results, indent=2))
    print(f"\nwhole bench: {time.monotonic() - started:.0f} s; results in {work / 'results.json'}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-train-samples", type=int, metavar="N", help="train on the first N rows of each file")
    parser.add_argument("--skip-trl", action="store_true", help="leave out the TRL run")
    parser.add_argument("--quick", action="store_true", help="24 training rows per dataset (smoke run)")
    parser.add_argument("--datasets", type=lambda s: s.split(","), default=list(DATASETS),
                        help="comma-separated: instruction,domain (default: both)")
    parser.add_argument("-H", "--fmtune-hyperparameter", dest="fmtune_hp", action="append", default=[],
                        metavar="KEY=VALUE", help="extra fmtune hyperparameter, e.g. -H packing=True (repeatable)")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads per run (default: torch's, all cores)")
    parser.add_argument("--workdir", help="keep runs, logs and results.json here (default: a new temp dir)")
    args = parser.parse_args(argv)
    unknown = set(args.datasets) - set(DATASETS)
    if unknown:
        parser.error(f"unknown dataset(s) {sorted(unknown)}; choose from {sorted(DATASETS)}")
    return args


def child_env(work: Path) -> dict[str, str]:
    """A private FMTUNE_HOME (jobs land in the work dir) that shares the converted-model cache; no network."""
    from fmtune.paths import models_cache_dir

    home = work / "fmtune-home"
    home.mkdir(exist_ok=True)
    cache = models_cache_dir().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(cache, target_is_directory=True)
    env = {**os.environ, "FMTUNE_HOME": str(home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
    return env


def prepare_model(env: dict[str, str]) -> Path:
    """Fill the two per-machine caches a user's first job fills once: the embedded GGUF converted, and
    precision=auto's measured verdict for its shapes (with the threads a job uses). Every run then starts as a
    user's second job does; the verdict is printed."""
    code = """
from transformers import AutoConfig
from fmtune.catalog import DEFAULT_MODEL_ID, get_card
from fmtune.models.cpu import use_physical_cores
from fmtune.models.gguf import convert_gguf
from fmtune.models.memory import Shape
from fmtune.models.loading import training_device
from fmtune.models.precision import precision_for
model_dir = convert_gguf(get_card(DEFAULT_MODEL_ID))
use_physical_cores()
shape = Shape.from_config(AutoConfig.from_pretrained(model_dir))
choice = precision_for("auto", training_device(), (shape.hidden, shape.intermediate))
print("precision verdict cached for every run: " + choice.reason)
print(model_dir)
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    print(out.stdout.strip().splitlines()[-2], flush=True)
    return Path(out.stdout.strip().splitlines()[-1])


def matmul_peaks(model_dir: Path) -> dict[str, float]:
    """FLOP/s of this machine's best fp32 and bf16 matmuls, on the shapes most of a step's matmuls have (1024
    tokens through the model's MLP: hidden x intermediate and back), best of 10 each, with the runs' threads."""
    import torch

    config = json.loads((model_dir / "config.json").read_text())
    hidden, intermediate, tokens = config["hidden_size"], config["intermediate_size"], 1024
    peaks = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(tokens, hidden, dtype=dtype), torch.randn(hidden, intermediate, dtype=dtype)
        c = torch.randn(tokens, intermediate, dtype=dtype)
        best = float("inf")
        for _ in range(11):
            started = time.perf_counter()
            (a @ b, c @ b.T)
            best = min(best, time.perf_counter() - started)
        peaks[name] = 2 * 2 * tokens * hidden * intermediate / best
    return peaks


def copy_rows(source: Path, target: Path, limit: int | None) -> Path:
    """The same (possibly capped) training file for every run: JSONL rows, or CSV rows after the header."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    if source.suffix == ".csv":
        import csv
        import io

        rows = list(csv.reader(io.StringIO("".join(lines))))
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows[: None if limit is None else limit + 1])
        target.write_text(buffer.getvalue(), encoding="utf-8")
    else:
        target.write_text("".join(lines[:limit]), encoding="utf-8")
    return target


def fmtune_command(spec: dict, hp: dict[str, str], out: Path, extra: dict[str, str] | None = None) -> list[str]:
    s = spec["settings"]
    values = {**hp, "epoch": s["epochs"], "learning_rate": s["learning_rate"], "per_device_train_batch_size":
              s["batch_size"], "max_input_length": s["max_length"], "lora_r": s["lora_r"], "lora_alpha":
              s["lora_alpha"], "lora_dropout": s["lora_dropout"], "seed": s["seed"], **(extra or {})}
    script = Path(sys.executable).with_name("fmtune")
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "fmtune.cli.main"]
    return [*cli, "train", "--training", spec["train"], "--validation", spec["validation"], "--output-dir", str(out),
            *[a for key, value in values.items() for a in ("-H", f"{key}={value}")]]


def train_run(run: str, spec: dict, hp: dict[str, str], out: Path, env: dict[str, str]) -> dict[str, Any]:
    """One training run in its own wrapper process; returns wall time, peak RSS and the run's own numbers."""
    print(f"[{spec['dataset']}] {LABELS[run]} ...", flush=True)
    if run in FMTUNE_VARIANTS:
        command = fmtune_command(spec, hp, out, FMTUNE_VARIANTS[run])
    else:
        command = [sys.executable, __file__, "--internal", "train", run, write_spec(out.with_suffix(".json"), {
            **spec, "out": str(out)})]
    wrapped = run_json([sys.executable, __file__, "--internal", "wrap", str(out) + ".log", "", "--", *command], env)
    if wrapped["returncode"] != 0:
        raise SystemExit(f"{LABELS[run]} failed (exit {wrapped['returncode']}); see {out}.log")
    if run in FMTUNE_VARIANTS:
        metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        # epoch 1's seconds = training + one evaluation; epoch 0's = that same evaluation alone. fmtune logs no
        # end-of-training mark, so this assumes both evaluations took equally long (not so on a busy machine).
        train_seconds = metrics[-1]["seconds"] - metrics[0]["seconds"]
        if train_seconds <= 0.1 * metrics[-1]["seconds"]:
            print(f"    warning: the evaluations' times differ too much to separate training time "
                  f"({metrics[0]['seconds']:.0f} s vs {metrics[-1]['seconds']:.0f} s): counting training + "
                  "evaluation", flush=True)
            train_seconds = metrics[-1]["seconds"]
        decided = json.loads((out / "config.json").read_text()).get("decided", {})
        stats = {"train_seconds": train_seconds, "adapter": str(out / "adapter"), "phases": phases(wrapped["lines"]),
                 "precision": decided.get("precision", "fp32"), "precision_reason": decided.get("precision_reason"),
                 "attention_reason": decided.get("attention_reason")}
    else:
        stats = json.loads((out / "stats.json").read_text())
    print(f"    done in {wrapped['wall_seconds']:.0f} s", flush=True)
    return {**wrapped, **stats}


def phases(lines: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds of each PHASE_MARKS phase of an fmtune run, from its stamped log lines; the rest to exit."""
    seconds, last = {}, 0.0
    for name, prefix in PHASE_MARKS:
        t = next((line["t"] for line in lines if line["text"].startswith(prefix)), None)
        if t is not None:
            seconds[name], last = round(t - last, 2), t
    return seconds


def first_step_run(spec: dict, hp: dict[str, str], data: Path, env: dict[str, str]) -> dict[str, Any]:
    """Time from `fmtune train` to the end of its first optimizer step (warm cache), as TRL's is timed: the wall
    clock of step 1 in steps.jsonl (written as the step ends) since the wrapper started the command. The run logs a
    checkpoint after step 1 and is stopped there. Includes imports, data, model load and the checks before training."""
    print(f"[{spec['dataset']}] fmtune time to first step ...", flush=True)
    job = data / "fmtune-first-step"
    command = fmtune_command(spec, hp, job, {"checkpoint_steps": "1"})
    out = run_json([sys.executable, __file__, "--internal", "wrap", str(data / "fmtune-first-step.log"),
                    FIRST_STEP_LINE, "--", *command], env)
    marks = {}
    for line in out["lines"]:
        for key, prefix in (("started", "fmtune job "), ("data_ready", "data: "), ("model_ready", "model: ")):
            if line["text"].startswith(prefix) and key not in marks:
                marks[key] = line["t"]
    first_row = json.loads((job / "steps.jsonl").read_text().splitlines()[0])
    marks["first_step"] = round(first_row["time"] - out["started_at"], 3)
    return {"seconds": marks["first_step"], "marks": marks}


def write_spec(path: Path, spec: dict) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec, indent=2))
    return str(path)


def run_json(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run an internal step; its last stdout line is its JSON result."""
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-3000:] + out.stderr[-5000:])
        raise SystemExit(f"bench step failed: {shlex.join(command[:6])} ...")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the table -------------------------------------------------------------------------------------------------

def print_table(name: str, spec: dict, per_run: dict[str, Any], runs: list[str], peaks: dict[str, float]) -> None:
    s = spec["settings"]
    lines = Path(spec["train"]).read_text(encoding="utf-8").splitlines()
    rows = len(lines) - (1 if spec["train"].endswith(".csv") else 0)
    print(f"\n## {name} data: {rows} training rows ({Path(spec['train']).name}), validation {spec['validation']}")
    print(f"SmolLM2-135M-Instruct, LoRA r={s['lora_r']} alpha={s['lora_alpha']} on all linear layers, "
          f"lr {s['learning_rate']}, batch {s['batch_size']}, {s['epochs']} epoch, max length {s['max_length']}\n")
    evals = per_run["eval"]
    header = (f"| {'run':<17} | {'real tokens':>11} | {'train s':>7} | {'real tok/s':>10} | {'wall s':>6} | "
              f"{'peak RSS GB':>11} | {'val loss':>8} | {'first step s':>12} |")
    print(header)
    print("|" + "|".join("-" * (len(cell)) for cell in header.split("|")[1:-1]) + "|")
    for run in runs:
        r = per_run[run]
        first = r.get("first_step_seconds")
        if run == "fmtune" and "fmtune_first_step" in per_run:
            first = per_run["fmtune_first_step"]["seconds"]
        tokens = evals["fmtune_train_tokens"] if run in FMTUNE_VARIANTS else r["real_tokens"]
        r["real_tokens"], r["tokens_per_second"] = tokens, tokens / r["train_seconds"]
        r["val_loss"] = evals["val_loss"][run]
        print(f"| {LABELS[run]:<17} | {tokens:>11} | {r['train_seconds']:>7.1f} | {r['tokens_per_second']:>10.1f} | "
              f"{r['wall_seconds']:>6.1f} | {r['peak_rss_kb'] / 1024**2:>11.2f} | {r['val_loss']:>8.4f} | "
              f"{'' if first is None else f'{first:.1f}':>12} |")
    print(f"| {LABELS['base']:<17} | {'':>11} | {'':>7} | {'':>10} | {'':>6} | {'':>11} | "
          f"{evals['val_loss']['base']:>8.4f} | {'':>12} |")
    for variant in (v for v in FMTUNE_VARIANTS if v in runs and "trl" in runs):
        f, t = per_run[variant], per_run["trl"]
        print(f"\n{LABELS[variant]} / TRL: real tok/s x{f['tokens_per_second'] / t['tokens_per_second']:.2f}, "
              f"wall time x{f['wall_seconds'] / t['wall_seconds']:.2f}, "
              f"peak RSS x{f['peak_rss_kb'] / t['peak_rss_kb']:.2f}, "
              f"val loss {f['val_loss'] - t['val_loss']:+.4f} ({f['val_loss']:.4f} vs {t['val_loss']:.4f})")
    for variant in (v for v in FMTUNE_VARIANTS if v in runs):
        r = per_run[variant]
        print(f"{LABELS[variant]} phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["phases"].items())
              + f"; precision {r['precision']} ({r['precision_reason']}); attention {r['attention_reason']}")
    if "fmtune_first_step" in per_run:
        m = per_run["fmtune_first_step"]["marks"]
        print("fmtune time to first step: " + ", ".join(f"{k} {v:.1f} s" for k, v in m.items())
              + " (from `fmtune train` starting; warm cache)")
    print(f"fmtune hyperparameters besides the shared settings: {spec['fmtune_hyperparameters'] or 'none'}")
    for run in runs:
        if per_run[run].get("trainer_settings"):
            print(f"{LABELS[run]} settings: {per_run[run]['trainer_settings']}")
    ceiling_lines(evals, per_run, runs, peaks)
    mfu_lines(evals, per_run, runs)


def run_precision(run: dict[str, Any]) -> str:
    """The precision a run's matmuls ran in: fmtune's recorded decision; TRL/HF: their bf16 setting."""
    if "precision" in run:
        return run["precision"]
    return "bf16" if str(run.get("trainer_settings", {}).get("bf16")) == "True" else "fp32"


def ceiling_lines(evals: dict, per_run: dict, runs: list[str], peaks: dict[str, float]) -> None:
    """Each run's real tokens/s as a share of what the measured matmul peak of its precision allows with LoRA's
    4N + attention FLOP per token (see mfu_lines): the ceiling no amount of overhead removal can pass."""
    flop = 4 * evals["matmul_params"] + evals["attention_flops_per_token"]
    print(f"\nshare of the matmul ceiling (FLOP/token = 4N + attention = {flop / 1e6:.0f} MFLOP; ceiling = measured "
          "peak / FLOP per token):")
    for run in runs:
        r = per_run[run]
        precision = run_precision(r)
        ceiling = peaks[precision] / flop
        r["ceiling_share"] = r["tokens_per_second"] / ceiling
        print(f"  {LABELS[run]:<17} {precision}: {r['tokens_per_second']:6.1f} of {ceiling:5.0f} tok/s = "
              f"{r['ceiling_share']:.0%}")


def mfu_lines(evals: dict, per_run: dict, runs: list[str]) -> None:
    """On CUDA: model FLOPs utilisation with 6N (full fine-tune) and 4N (LoRA: no weight gradients of the frozen
    base) per token, N = weights of the linear layers (LM head included, embedding lookup not), plus attention
    6*L*H*(d_qk+d_v)*S/2 per token (causal: half of the S x S scores; S = mean training sequence length)."""
    gpu = evals.get("gpu")
    if not gpu:
        return
    peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in gpu), None)
    if peak is None:
        print(f"\nMFU: no dense bf16 peak known for {gpu} (known: {', '.join(PEAK_BF16_FLOPS)}); not computed")
        return
    n, attention = evals["matmul_params"], evals["attention_flops_per_token"]
    print(f"\nMFU on {gpu} (peak bf16 {peak / 1e12:.0f} TFLOP/s): FLOP/token = 6N or 4N "
          f"+ {attention:.3g} (attention), N = {n / 1e6:.1f}M matmul parameters (LM head in, embeddings out)")
    for run in runs:
        rate = per_run[run]["tokens_per_second"]
        parts = [f"{k}: {(c * n + attention) * rate / peak:.1%}" for k, c in (("6N", 6), ("4N", 4))]
        print(f"  {LABELS[run]:<17} {rate:,.0f} tok/s  " + "  ".join(parts))


def machine() -> dict[str, Any]:
    from fmtune.models.cpu import cpu_model, physical_cores

    return {"date": datetime.now().isoformat(timespec="seconds"), "cpu": cpu_model(), "cores": os.cpu_count(),
            "physical_cores": physical_cores(), "python": platform.python_version(),
            "load_average": os.getloadavg()}


# --- child processes -------------------------------------------------------------------------------------------

def internal(argv: list[str]) -> int:
    kind, rest = argv[0], argv[1:]
    if kind == "wrap":
        log, stop_at, command = rest[0], rest[1], rest[rest.index("--") + 1 :]
        print(json.dumps(wrap(command, Path(log), stop_at or None)))
    elif kind == "train":
        spec = json.loads(Path(rest[1]).read_text())
        stats = train_trl(spec) if rest[0] == "trl" else train_hf(spec)
        Path(spec["out"], "stats.json").write_text(json.dumps(stats))
        print(json.dumps(stats))
    elif kind == "eval":
        print(json.dumps(evaluate(json.loads(Path(rest[0]).read_text()))))
    return 0


def wrap(command: list[str], log: Path, stop_at: str | None) -> dict[str, Any]:
    """Run `command`, stamp each output line, report wall time and the peak RSS of its process tree.
    With `stop_at`, kill the tree when a line starting with it appears."""
    t0, started_at = time.monotonic(), time.time()
    env = {**os.environ, "BENCH_T0": repr(started_at)}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             start_new_session=True)
    lines = []
    with log.open("w", encoding="utf-8", buffering=1) as sink:  # line-buffered: follow it with tail -f
        assert child.stdout is not None
        for text in child.stdout:
            t = time.monotonic() - t0
            lines.append({"t": round(t, 3), "text": text.rstrip("\n")})
            sink.write(f"{t:8.2f} {text}")
            if stop_at and text.startswith(stop_at):
                os.killpg(child.pid, signal.SIGKILL)  # the group this wrapper started: the CLI and its recipe
                break
    returncode = child.wait()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # ru_maxrss: KiB on Linux, of the largest descendant
    return {"returncode": 0 if stop_at else returncode, "wall_seconds": time.monotonic() - t0,
            "started_at": started_at, "peak_rss_kb": usage.ru_maxrss, "lines": lines}


def _lora_config(spec: dict) -> Any:
    from peft import LoraConfig

    s = spec["settings"]
    return LoraConfig(r=s["lora_r"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"],
                      target_modules=spec["lora_targets"], bias="none", task_type="CAUSAL_LM")


def _rows(spec: dict) -> list[dict[str, str]]:
    """prompt/completion rows with fmtune's JumpStart template text, or {"text": ...} rows for domain data."""
    from fmtune.data.readers import read_records
    from fmtune.data.templates import DEFAULT_PROMPT, DEMARCATION

    records = read_records(Path(spec["train"]))
    if spec["dataset"] == "domain":
        return [{"text": r.value["text"]} for r in records if r.value["text"].strip()]
    return [{"prompt": DEFAULT_PROMPT.format(**r.value) + DEMARCATION, "completion": r.value["response"]}
            for r in records]


class _Counter:
    """Wraps a collator; counts real (attention_mask=1) tokens and notes when the first optimizer step ends."""

    def __init__(self, collator: Any):
        self.collator, self.tokens = collator, 0

    def __call__(self, features: list) -> Any:
        batch = self.collator(features)
        mask = batch.get("attention_mask")
        self.tokens += int(mask.sum()) if mask is not None else int(batch["input_ids"].numel())
        return batch


def _first_step_callback(marks: dict[str, float]) -> Any:
    from transformers import TrainerCallback

    class FirstStep(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            marks.setdefault("first_step_seconds", time.time() - float(os.environ["BENCH_T0"]))

    return FirstStep()


def _train_common(spec: dict) -> dict[str, Any]:
    s = spec["settings"]
    return {"output_dir": spec["out"], "num_train_epochs": s["epochs"], "per_device_train_batch_size":
            s["batch_size"], "learning_rate": s["learning_rate"], "seed": s["seed"], "report_to": "none",
            "save_strategy": "no", "disable_tqdm": True}


def train_trl(spec: dict) -> dict[str, Any]:
    """TRL SFTTrainer with its own defaults (completion-only loss for prompt/completion data, gradient
    checkpointing, bf16 where available, no packing), given only the shared settings."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    marks: dict[str, float] = {}
    # use_cpu: without it TRL's default bf16=True refuses to start on a machine without a GPU.
    config = SFTConfig(**_train_common(spec), max_length=spec["settings"]["max_length"],
                       use_cpu=not torch.cuda.is_available())
    trainer = SFTTrainer(model=spec["model_dir"], args=config, train_dataset=Dataset.from_list(_rows(spec)),
                         peft_config=_lora_config(spec), callbacks=[_first_step_callback(marks)])
    counter = _Counter(trainer.data_collator)
    trainer.data_collator = counter
    result = trainer.train()
    adapter = Path(spec["out"], "adapter")
    trainer.save_model(str(adapter))
    settings = {k: str(getattr(config, k)) for k in ("bf16", "gradient_checkpointing", "packing", "padding_free",
                                                     "lr_scheduler_type", "use_cpu")}
    settings["completion_only_loss"] = trainer.completion_only_loss
    return {"train_seconds": result.metrics["train_runtime"], "real_tokens": counter.tokens, "adapter": str(adapter),
            "trainer_settings": settings, **marks}


def train_hf(spec: dict) -> dict[str, Any]:
    """Plain transformers Trainer + PEFT: prompt+completion+EOS (or 256-token blocks of the text), a causal-LM
    collator (DataCollatorForLanguageModeling, mlm=False: loss on every non-pad token), fp32, no extras."""
    import torch
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
    )

    max_length = spec["settings"]["max_length"]
    tokenizer = AutoTokenizer.from_pretrained(spec["model_dir"])
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    rows = _rows(spec)
    if spec["dataset"] == "domain":  # run_clm's group_texts: concatenate, cut into blocks
        stream = [t for r in rows for t in tokenizer(r["text"])["input_ids"] + [tokenizer.eos_token_id]]
        features = [{"input_ids": stream[i : i + max_length]} for i in range(0, len(stream), max_length)]
    else:
        features = [{"input_ids": tokenizer(r["prompt"] + r["completion"])["input_ids"][: max_length - 1]
                     + [tokenizer.eos_token_id]} for r in rows]
    model = AutoModelForCausalLM.from_pretrained(spec["model_dir"], dtype=torch.float32)
    model.config.use_cache = False
    model = get_peft_model(model, _lora_config(spec))
    marks: dict[str, float] = {}
    counter = _Counter(DataCollatorForLanguageModeling(tokenizer, mlm=False))
    trainer = Trainer(model=model, args=TrainingArguments(**_train_common(spec)), data_collator=counter,
                      train_dataset=Dataset.from_list(features), callbacks=[_first_step_callback(marks)])
    result = trainer.train()
    adapter = Path(spec["out"], "adapter")
    model.save_pretrained(adapter)
    return {"train_seconds": result.metrics["train_runtime"], "real_tokens": counter.tokens, "adapter": str(adapter),
            "trainer_settings": {"bf16": False, "gradient_checkpointing": False, "loss": "all non-pad tokens"},
            **marks}


def evaluate(spec: dict) -> dict[str, Any]:
    """The one evaluation: each adapter on a freshly loaded fp32 base, batch 1, no padding; mean token loss over
    the target tokens of fmtune's encoding of the validation file. Also fmtune's real training tokens."""
    import torch
    import torch.nn.functional as F
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from fmtune.data.channels import load_splits
    from fmtune.data.encode import IGNORE_INDEX, cut_blocks, document_ids, encode_prompt_completion
    from fmtune.models.loading import load_tokenizer

    model_dir, max_length = Path(spec["model_dir"]), spec["settings"]["max_length"]
    tokenizer = load_tokenizer(model_dir)
    mode = "domain" if spec["dataset"] == "domain" else "instruction"
    splits = load_splits({"training": Path(spec["train"]), "validation": Path(spec["validation"])}, mode,
                         demarcation=True, validation_split_ratio=0.2,
                         train_data_split_seed=0)

    def encode(records: list) -> list:
        if mode == "domain":
            return cut_blocks(document_ids(tokenizer, records)[0], max_length)
        return encode_prompt_completion(tokenizer, records, max_length)[0]

    validation = encode(splits.validation)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    losses = {}
    for run, adapter in {"base": None, **spec["adapters"]}.items():
        if run != "base" and not adapter:
            continue
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).to(device)
        if adapter:
            model = PeftModel.from_pretrained(model, adapter).to(device)
        model.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for example in validation:
                ids = torch.tensor([example.input_ids], device=device)
                targets = torch.tensor(example.labels[1:], device=device)
                logits = model(input_ids=ids, use_cache=False).logits[0, :-1].float()
                total += float(F.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, reduction="sum"))
                count += int((targets != IGNORE_INDEX).sum())
        losses[run] = total / count
    train = encode(splits.train)
    result: dict[str, Any] = {"val_loss": losses, "val_tokens": count,
                              "fmtune_train_tokens": sum(len(e.input_ids) for e in train)}
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = base.config
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    mean_length = sum(len(e.input_ids) for e in train) / len(train)
    result.update(
        # N: weights that take part in matmuls (every linear layer, LM head included; not the embedding lookup)
        matmul_params=sum(m.weight.numel() for m in base.modules() if isinstance(m, torch.nn.Linear)),
        attention_flops_per_token=6 * config.num_hidden_layers * config.num_attention_heads * 2 * head_dim
        * mean_length / 2,
    )
    if torch.cuda.is_available():
        result["gpu"] = torch.cuda.get_device_name()
    return result


if __name__ == "__main__":
    sys.exit(main())

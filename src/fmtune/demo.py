"""`make demo`: fine-tune the embedded SmolLM2-135M on the shipped instruction samples, then show
validation loss / perplexity and one generation before → after.

    python -m fmtune.demo [--samples samples] [--epoch 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fmtune.catalog import DEFAULT_MODEL_ID
from fmtune.cli.main import main as fmtune
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.metrics import read_metrics
from fmtune.jobs.start import default_job_name
from fmtune.paths import jobs_dir

QUESTION = "What does the `textwrap.dedent` function do?"


def run(samples: Path, epoch: int) -> int:
    job_name = default_job_name("demo")
    code = fmtune([
        "train", DEFAULT_MODEL_ID,
        "--training", str(samples / "instruction" / "train"),
        "--validation", str(samples / "instruction" / "validation"),
        "-H", "instruction_tuned=True", "-H", f"epoch={epoch}", "-H", "learning_rate=0.0005",
        "-H", "max_input_length=256", "-H", "per_device_eval_batch_size=8",
        "--job-name", job_name,
    ])
    if code != 0:
        return code
    layout = JobLayout(jobs_dir() / job_name)
    records = read_metrics(layout.metrics)
    before, after = records[0], min(records[1:], key=lambda r: r["eval_loss"])

    from fmtune.data.prompting import PromptFormat
    from fmtune.jobs.artifacts import load_for_generation
    from fmtune.models.generate import generate

    tuned = load_for_generation(str(layout.root))
    base = load_for_generation(DEFAULT_MODEL_ID, prompt_format=PromptFormat.load(layout.model))
    print("\n=== fmtune demo: SmolLM2-135M-Instruct, LoRA instruction tuning on CPython docstrings ===")
    print(f"validation loss  {before['eval_loss']:.4f} → {after['eval_loss']:.4f}  (epoch {after['epoch']})")
    print(f"perplexity       {before['eval_ppl']:.2f} → {after['eval_ppl']:.2f}")
    print(f"\nprompt: {QUESTION}")
    print(f"before: {generate(base, QUESTION, max_new_tokens=60).strip()}")
    print(f"after:  {generate(tuned, QUESTION, max_new_tokens=60).strip()}")
    print(f"\njob folder: {layout.root}\ntry: fmtune generate {job_name} \"What does `json.loads` do?\"")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fmtune.demo")
    parser.add_argument("--samples", type=Path, default=Path("samples"))
    parser.add_argument("--epoch", type=int, default=2)
    args = parser.parse_args(argv)
    return run(args.samples, args.epoch)


if __name__ == "__main__":
    sys.exit(main())

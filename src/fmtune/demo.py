"""`make demo`: fine-tune the embedded SmolLM2-135M on the shipped instruction samples, then show the evaluation
report's summary: loss and scores of the base and the tuned model, a few held-out rows side by side, the report's
path.

    python -m fmtune.demo [--samples samples] [--epoch 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fmtune.catalog import DEFAULT_MODEL_ID
from fmtune.cli.main import main as fmtune
from fmtune.evaluation.report import summary
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.start import default_job_name
from fmtune.paths import jobs_dir


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
    print("\n=== fmtune demo: SmolLM2-135M-Instruct, LoRA instruction tuning on CPython docstrings ===")
    print("held-out validation rows, answered by the base and the tuned model (greedy):\n")
    print(summary(layout))
    print(f"\nthe whole report: {layout.report}\njob folder: {layout.root}\n"
          f"try: fmtune generate {job_name} \"What does `json.loads` do?\"")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fmtune.demo")
    parser.add_argument("--samples", type=Path, default=Path("samples"))
    parser.add_argument("--epoch", type=int, default=2)
    args = parser.parse_args(argv)
    return run(args.samples, args.epoch)


if __name__ == "__main__":
    sys.exit(main())

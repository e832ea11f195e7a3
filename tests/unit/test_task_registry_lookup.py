"""The registry decides what trains a model from outside the catalog: its config.json, not a task name."""

from __future__ import annotations

import pytest

from fmtune.catalog import all_cards
from fmtune.errors import UserError
from fmtune.tasks import find_task, get_task, task_for_config


@pytest.mark.parametrize(
    ("config", "task"),
    [
        ({"model_type": "llama"}, "text-generation"),
        ({"model_type": "gpt2"}, "text-generation"),
        ({"model_type": "t5"}, "text2text"),
        ({"model_type": "bart"}, "text2text"),  # also in the causal-LM mapping (BartForCausalLM): an encoder-decoder
        ({"model_type": "my-model", "auto_map": {"AutoModelForCausalLM": "modeling.MyForCausalLM"}}, "text-generation"),
    ],
)
def test_a_brought_config_finds_the_task_that_trains_it(config, task):
    assert task_for_config(config, "/models/x").name == task


def test_a_config_no_task_trains_is_refused_naming_what_is_trained():
    with pytest.raises(UserError) as err:
        task_for_config({"model_type": "resnet", "architectures": ["ResNetForImageClassification"]}, "/models/r")
    message = str(err.value)
    assert "/models/r" in message and "'resnet'" in message and "ResNetForImageClassification" in message
    assert "text-generation" in message and "text2text" in message


# Tasks that read a brought model's config.json (text-to-image models come as diffusers folders).
@pytest.mark.parametrize("card", [c for c in all_cards() if (t := find_task(c.task)) and t.trains_config],
                         ids=lambda c: c.model_id)
def test_each_trainable_catalog_card_is_claimed_by_its_own_task(card):
    """The card's task and the registry's reading of its model_type agree: a catalog model brought as a
    local folder trains as the catalog would train it."""
    assert task_for_config(brought_config(card), card.model_id) is get_task(card.task)


def brought_config(card) -> dict:
    """What a folder of the card's model gives the registry: config.json, or a diffusers model_index.json."""
    if card.architecture == "stable-diffusion":
        return {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1", "unet": ["diffusers",
                "UNet2DConditionModel"]}
    return {"model_type": card.architecture}

"""JumpStartModel's example payloads: for every catalog text model, the request shape of its family in
shared/reference/jumpstart.md ("Inference payloads"), with chat models' prompts in their family format."""

from __future__ import annotations

import pytest

from fmtune.catalog import all_cards, get_card
from fmtune.catalog.examples import example_payloads
from fmtune.sagemaker.jumpstart.model import JumpStartModel

TEXT_CARDS = [c for c in all_cards() if c.task in ("text-generation", "text2text")]
# The reference table's request keys per family.
TEXT_GENERATION_PARAMETERS = {"max_new_tokens", "top_p", "temperature", "return_full_text"}
FLAN_T5_KEYS = {"text_inputs", "max_length", "num_return_sequences", "top_k", "top_p", "do_sample"}


@pytest.mark.parametrize("card", TEXT_CARDS, ids=lambda c: c.model_id)
def test_every_text_model_has_an_example_in_its_familys_shape(card):
    examples = JumpStartModel(model_id=card.model_id).retrieve_all_examples()
    assert examples
    for example in examples:
        assert (example.content_type, example.accept) == ("application/json", "application/json")
        if card.task == "text2text":
            assert set(example.body) == FLAN_T5_KEYS and example.prompt_key == "text_inputs"
        else:
            assert set(example.body) == {"inputs", "parameters"} and isinstance(example.body["inputs"], str)
            assert set(example.body["parameters"]) <= TEXT_GENERATION_PARAMETERS


@pytest.mark.parametrize(("model_id", "prompt"), [
    ("meta-textgeneration-llama-2-7b-f", "<s>[INST] What is the recipe of mayonnaise? [/INST]"),
    ("huggingface-llm-gemma-2b-instruct",
     "<bos><start_of_turn>user\nWhat is the recipe of mayonnaise?<end_of_turn>\n<start_of_turn>model\n"),
    ("huggingface-llm-falcon-7b-instruct-bf16", "\n\nUser: What is the recipe of mayonnaise?\n\nAssistant:"),
])
def test_chat_models_examples_are_prompted_in_their_family_format(model_id, prompt):
    assert JumpStartModel(model_id=model_id).retrieve_example_payload().body["inputs"] == prompt


def test_a_base_model_gets_raw_text_and_the_image_model_none():
    body = example_payloads(get_card("meta-textgeneration-llama-2-7b"))[0].body
    assert not body["inputs"].startswith("<s>")
    with pytest.raises(ValueError, match="no example payload"):
        JumpStartModel(model_id="model-txt2img-stabilityai-stable-diffusion-v2-1-base").retrieve_example_payload()


@pytest.mark.parametrize(("model_id", "response"), [
    ("meta-textgeneration-llama-2-7b", [{"generation": "the answer"}]),
    ("meta-textgeneration-llama-codellama-7b", [{"generated_text": "the answer"}]),
    ("huggingface-llm-falcon-7b-instruct-bf16", [{"generated_text": "the answer"}]),
    ("huggingface-text2text-flan-t5-base", {"generated_texts": ["the answer"]}),
])
def test_output_keys_find_the_answer_in_the_familys_response(model_id, response):
    """As the Code Llama notebook reads every example's answer: jmespath over raw_payload["output_keys"]."""
    import jmespath

    for example in JumpStartModel(model_id=model_id).retrieve_all_examples():
        assert example.raw_payload["body"] == example.body
        assert jmespath.search(example.raw_payload["output_keys"]["generated_text"], response) == "the answer"

"""Packing and length-grouped batching: same per-example loss packed or alone, every token once, little padding.

The model tests are the guard against cross-example contamination: each example's summed loss computed
alone must equal its share of the packed row's loss, and the same row fed the way that contaminates
(plain causal mask, or a KV cache) must give clearly different losses, so the comparison can fail.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from fmtune.data.batching import PAD_MULTIPLE, length_grouped_batches, padding_fraction, training_batches
from fmtune.data.channels import PromptCompletion, load_splits
from fmtune.data.encode import IGNORE_INDEX, Encoded, encode_prompt_completion
from fmtune.data.packing import (
    PACKED_MODEL_KEYS,
    PackedRow,
    collate_packed,
    collate_packing,
    keeps_examples_apart,
    pack_examples,
    packed_model_inputs,
)
from fmtune.models.loading import load_pretrained, load_tokenizer

from ..conftest import SAMPLES

REL_TOL = 1e-4

# Six prompt/completion pairs of clearly different lengths (4 to ~70 completion tokens).
RECORDS = [
    ("What does `len` return?", "The number of items in a container."),
    ("Name the module that parses command-line options.", "argparse"),
    ("Explain what `textwrap.dedent` does in Python.",
     "Remove any common leading whitespace from every line in text. This can be used to make triple-quoted "
     "strings line up with the left edge of the display, while still presenting them in the source code in "
     "indented form. Note that tabs and spaces are both treated as whitespace, but they are not equal."),
    ("Describe `heapq.merge`.",
     "Merge multiple sorted inputs into a single sorted output, returning an iterator over the sorted values."),
    ("Is `bisect.insort` stable?", "Yes; it inserts after any existing entries equal to the new item."),
    ("Summarise what `json.dumps` is for, and mention two of its keyword arguments.",
     "It serializes an object to a JSON formatted string. `indent` pretty-prints nested structures with the "
     "given indent level, and `sort_keys` outputs dictionaries with their keys sorted, which makes the output "
     "reproducible."),
]
DEMARCATION = "\n\n### Response:\n"


def _encoded(tokenizer) -> list[Encoded]:
    records = [PromptCompletion(p + DEMARCATION, c, f"t:{i}") for i, (p, c) in enumerate(RECORDS)]
    examples, stats = encode_prompt_completion(tokenizer, records, max_length=512)
    assert len(examples) == 6 and stats.truncated == 0
    assert len({len(e.input_ids) for e in examples}) == 6  # all lengths differ
    return examples


# --- packing arithmetic (no model) ---------------------------------------------------------------------------

def _random_examples(n: int, seed: int, longest: int) -> list[Encoded]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        length = rng.randint(2, longest)
        prompt = rng.randint(1, length - 1)
        ids = [1000 * i + t for t in range(length)]  # unique tokens, so each can be traced back
        out.append(Encoded(ids, [IGNORE_INDEX] * prompt + ids[prompt:]))
    return out


def test_every_example_lands_whole_in_exactly_one_row_within_max_length():
    examples = _random_examples(300, seed=1, longest=120)
    rows = pack_examples(examples, max_length=256)
    assert all(len(r.input_ids) <= 256 for r in rows)
    placed = [e for r in rows for e in r.examples]
    assert sorted(map(id, placed)) == sorted(map(id, examples))  # each example once, never split
    tokens = [t for r in rows for t in r.input_ids]
    assert sorted(tokens) == sorted(t for e in examples for t in e.input_ids)  # all tokens present once
    # First-fit decreasing wastes little: fewer than 2 % more rows than the lower bound.
    lower_bound = -(-sum(len(e.input_ids) for e in examples) // 256)
    assert len(rows) <= lower_bound * 1.02 + 1


def test_first_fit_decreasing_places_items_as_specified_and_is_deterministic():
    lengths = [3, 7, 5, 2, 6, 4, 4]
    examples = [Encoded(list(range(n)), list(range(n))) for n in lengths]
    rows = pack_examples(examples, max_length=10)
    # Sorted: 7,6,5,4,4,3,2 -> row0: 7+3 ; row1: 6+4 ; row2: 5+4 ; then 2 fits nowhere before row3.
    assert [r.lengths for r in rows] == [[7, 3], [6, 4], [5, 4], [2]]
    assert [r.examples for r in pack_examples(examples, max_length=10)] == [r.examples for r in rows]


def test_packing_refuses_examples_longer_than_a_row():
    with pytest.raises(ValueError, match="longer than max_length=4"):
        pack_examples([Encoded([1, 2, 3, 4, 5], [1, 2, 3, 4, 5])], max_length=4)


def test_collated_row_masks_each_first_token_restarts_positions_and_marks_padding():
    a = Encoded([11, 12, 13], [IGNORE_INDEX, 12, 13])
    b = Encoded([21, 22], [21, 22])  # a target on its first token: must still be masked (boundary)
    c = Encoded([31, 32, 33, 34], [IGNORE_INDEX, IGNORE_INDEX, 33, 34])
    batch = collate_packed([PackedRow((a, b)), c], pad_id=0)
    assert batch["input_ids"].shape == (2, PAD_MULTIPLE)
    assert batch["input_ids"][0, :5].tolist() == [11, 12, 13, 21, 22]
    assert batch["labels"][0].tolist() == [-100, 12, 13, -100, 22] + [-100] * 3
    assert batch["position_ids"][0].tolist() == [0, 1, 2, 0, 1, 0, 1, 2]  # padding is a block of its own
    assert batch["attention_mask"][0].tolist() == [1] * 5 + [0] * 3
    assert batch["labels"][1].tolist() == [-100, -100, 33, 34] + [-100] * 4  # a plain example is a 1-example row
    assert batch["position_ids"][1, :4].tolist() == [0, 1, 2, 3]
    assert int(batch["attention_mask"].sum()) == 9
    flat = collate_packed([PackedRow((a, b)), c], pad_id=0, flatten=True)
    assert flat["input_ids"].shape == (1, 9) and int(flat["attention_mask"].sum()) == 9
    assert flat["position_ids"][0].tolist() == [0, 1, 2, 0, 1, 0, 1, 2, 3]
    assert set(packed_model_inputs(batch)) == {*PACKED_MODEL_KEYS, "use_cache"}
    assert "attention_mask" not in packed_model_inputs(batch) and packed_model_inputs(batch)["use_cache"] is False


def test_collate_packing_packs_a_batch_of_examples_and_keeps_prepacked_rows():
    examples = _random_examples(6, seed=3, longest=9)
    batch = collate_packing(examples, pad_id=0, max_length=16)
    rows = pack_examples(examples, 16)
    assert batch["input_ids"].shape[0] == len(rows) < len(examples)
    assert batch["position_ids"].tolist() == collate_packed(rows, pad_id=0)["position_ids"].tolist()
    # An evaluation set packed ahead of time: its rows are collated as they are, never packed again.
    assert collate_packing(rows, pad_id=0, max_length=16)["input_ids"].tolist() == batch["input_ids"].tolist()


# --- packed vs unpacked losses on real architectures -----------------------------------------------------------

MODELS = ["embedded-smollm2", "huggingface-llm-mistral-7b", "meta-textgeneration-llama-2-7b"]
# How much contamination moves every later example's loss at least: a lot with real weights; with tiny RANDOM
# weights logits are near-uniform, so attending across examples moves a summed loss by 1e-4..3e-3 (the packed
# loss itself stays within 1e-6 of the unpacked one).
CONTAMINATION_FLOOR = {"embedded-smollm2": 1e-2}
TINY_CONTAMINATION_FLOOR = 1e-5


@pytest.fixture(scope="module", params=MODELS)
def model_and_tokenizer(request, embedded_model_dir: Path):
    if request.param == "embedded-smollm2":
        model_dir = embedded_model_dir
    else:
        from fmtune.models.source import materialize, resolve_source

        model_dir = materialize(resolve_source(request.param, tiny_random=True))
    model = load_pretrained(model_dir, torch.device("cpu"))
    model.eval()
    return model, load_tokenizer(model_dir), CONTAMINATION_FLOOR.get(request.param, TINY_CONTAMINATION_FLOOR)


def _token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """loss[t] = -log p(token t | tokens before it), 0 where label t is ignored (and at t=0)."""
    per = F.cross_entropy(logits[0, :-1].float(), labels[0, 1:], ignore_index=IGNORE_INDEX, reduction="none")
    return torch.cat([per.new_zeros(1), per])


@torch.no_grad()
def _alone(model, examples: list[Encoded]) -> list[float]:
    """Each example on its own: batch 1, no padding, the model's default causal mask."""
    sums = []
    for e in examples:
        logits = model(input_ids=torch.tensor([e.input_ids])).logits
        sums.append(float(_token_losses(logits, torch.tensor([e.labels])).sum()))
    return sums


@torch.no_grad()
def _per_example(model, rows: list[PackedRow], batch: dict[str, torch.Tensor], call: dict) -> list[float]:
    """Run the collated batch with `call` as the model's keyword arguments; split token losses by example."""
    logits = model(**call).logits
    sums = []
    for r, row in enumerate(rows):
        losses = _token_losses(logits[r : r + 1], batch["labels"][r : r + 1])
        start = 0
        for n in row.lengths:
            sums.append(float(losses[start : start + n].sum()))
            start += n
    return sums


def _relative_gap(a: list[float], b: list[float]) -> list[float]:
    return [abs(x - y) / abs(y) for x, y in zip(a, b, strict=True)]


def _assert_contaminated(gaps: list[float], floor: float) -> None:
    """The equality check would fail (by 10x its tolerance), and every example after the first moved."""
    assert gaps[0] < REL_TOL  # the first example of the row has nothing before it
    assert max(gaps) > 10 * REL_TOL, gaps
    assert min(gaps[1:]) > floor, gaps


def test_packed_row_gives_each_example_its_own_loss(model_and_tokenizer):
    model, tokenizer, floor = model_and_tokenizer
    examples = _encoded(tokenizer)
    rows = pack_examples(examples, max_length=1024)
    assert len(rows) == 1 and len(rows[0].examples) == 6
    batch = collate_packed(rows, tokenizer.pad_token_id)
    alone = dict(zip(map(id, examples), _alone(model, examples), strict=True))
    expected = [alone[id(e)] for e in rows[0].examples]

    packed = _per_example(model, rows, batch, packed_model_inputs(batch))
    assert max(_relative_gap(packed, expected)) < REL_TOL, (packed, expected)

    # The same row with a plain causal mask (no position_ids): later examples see earlier ones.
    contaminated = _per_example(model, rows, batch, {"input_ids": batch["input_ids"], "use_cache": False})
    _assert_contaminated(_relative_gap(contaminated, expected), floor)


def test_several_padded_rows_and_the_flattened_row_match_too(model_and_tokenizer):
    """Here every token carries a label (as in language-model data), so a loss taken across an example boundary
    (the previous example's last token predicting this one's first) would show as well."""
    model, tokenizer, _ = model_and_tokenizer
    examples = [Encoded(e.input_ids, list(e.input_ids)) for e in _encoded(tokenizer)]
    alone = dict(zip(map(id, examples), _alone(model, examples), strict=True))
    rows = pack_examples(examples, max_length=max(len(e.input_ids) for e in examples) + 8)
    assert len(rows) >= 2 and len({len(r.input_ids) for r in rows}) > 1  # padding in some row
    expected = [alone[id(e)] for r in rows for e in r.examples]

    batch = collate_packed(rows, tokenizer.pad_token_id)
    assert max(_relative_gap(_per_example(model, rows, batch, packed_model_inputs(batch)), expected)) < REL_TOL

    flat = collate_packed(rows, tokenizer.pad_token_id, flatten=True)
    one_row = [PackedRow(tuple(e for r in rows for e in r.examples))]
    assert max(_relative_gap(_per_example(model, one_row, flat, packed_model_inputs(flat)), expected)) < REL_TOL


def test_use_cache_false_is_what_keeps_examples_apart_when_the_config_enables_the_cache(model_and_tokenizer):
    """The packing trap: with a KV cache transformers ignores position_ids when building the mask."""
    model, tokenizer, floor = model_and_tokenizer
    examples = _encoded(tokenizer)
    rows = pack_examples(examples, max_length=1024)
    batch = collate_packed(rows, tokenizer.pad_token_id)
    alone = dict(zip(map(id, examples), _alone(model, examples), strict=True))
    expected = [alone[id(e)] for e in rows[0].examples]
    model.config.use_cache = True  # what a config loaded without fmtune's load_pretrained says
    try:
        with_cache = _per_example(model, rows, batch, {k: batch[k] for k in PACKED_MODEL_KEYS})
        guarded = _per_example(model, rows, batch, packed_model_inputs(batch))
    finally:
        model.config.use_cache = False
    _assert_contaminated(_relative_gap(with_cache, expected), floor)
    assert max(_relative_gap(guarded, expected)) < REL_TOL


def _assert_packed_row_matches_examples_alone(model, tokenizer) -> tuple[list[PackedRow], dict, list[float]]:
    """Pack the test examples into one row; each example's loss there must equal its loss alone."""
    examples = _encoded(tokenizer)
    rows = pack_examples(examples, max_length=1024)
    batch = collate_packed(rows, tokenizer.pad_token_id)
    alone = dict(zip(map(id, examples), _alone(model, examples), strict=True))
    expected = [alone[id(e)] for e in rows[0].examples]
    assert max(_relative_gap(_per_example(model, rows, batch, packed_model_inputs(batch)), expected)) < REL_TOL
    return rows, batch, expected


@pytest.mark.parametrize("model_id", ["huggingface-llm-mistral-7b", "meta-textgeneration-llama-2-7b"])
def test_eager_attention_keeps_examples_apart_too(model_id):
    """The other attention implementation that builds its mask from position_ids (sdpa is the default)."""
    from fmtune.models.source import materialize, resolve_source

    model_dir = materialize(resolve_source(model_id, tiny_random=True))
    model = load_pretrained(model_dir, torch.device("cpu")).eval()
    model.set_attn_implementation("eager")
    assert model.config._attn_implementation == "eager"
    tokenizer = load_tokenizer(model_dir)
    rows, batch, expected = _assert_packed_row_matches_examples_alone(model, tokenizer)
    contaminated = _per_example(model, rows, batch, {"input_ids": batch["input_ids"], "use_cache": False})
    _assert_contaminated(_relative_gap(contaminated, expected), TINY_CONTAMINATION_FLOOR)


def test_packing_holds_through_a_lora_model_in_train_mode(embedded_model_dir):
    """The recipe calls a PEFT model in train mode: position_ids and use_cache must reach the base model."""
    from fmtune.config.hyperparameters import Hyperparameters
    from fmtune.models.loading import apply_lora
    from fmtune.models.source import materialize, resolve_source

    model_dir = materialize(resolve_source("huggingface-llm-mistral-7b", tiny_random=True))
    tokenizer = load_tokenizer(model_dir)
    torch.manual_seed(0)
    hp = Hyperparameters(lora_dropout=0.0)
    model = apply_lora(load_pretrained(model_dir, torch.device("cpu")), hp, ["q_proj", "v_proj"])
    for name, p in model.named_parameters():  # non-zero B, so the adapter changes the outputs
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.05)
    model.train()
    _assert_packed_row_matches_examples_alone(model, tokenizer)


# Which architectures keep packed examples apart is checked on the model at the start of every run; BLOOM's ALiBi
# builds its bias without position ids, so packing would let its examples see each other: the check must say no.
KEEPS_APART = {
    "meta-textgeneration-llama-2-7b": True,
    "huggingface-llm-mixtral-8x7b": True,
    "huggingface-llm-falcon-7b-bf16": True,
    "huggingface-textgeneration1-gpt-2-xl": True,
    "huggingface-textgeneration1-bloom-3b": False,
}


@pytest.mark.parametrize("model_id", KEEPS_APART)
def test_the_run_time_check_tells_which_models_keep_packed_examples_apart(model_id):
    from fmtune.models.source import materialize, resolve_source

    model = load_pretrained(materialize(resolve_source(model_id, tiny_random=True)), torch.device("cpu"))
    model.train()
    assert keeps_examples_apart(model, torch.device("cpu")) is KEEPS_APART[model_id]
    assert model.training  # the check leaves the mode as it found it


def test_the_embedded_model_keeps_packed_examples_apart(embedded_model_dir):
    assert keeps_examples_apart(load_pretrained(embedded_model_dir, torch.device("cpu")), torch.device("cpu"))


# --- length-grouped batching -----------------------------------------------------------------------------------

def _lengths(examples: list[Encoded]) -> list[int]:
    return [len(e.input_ids) for e in examples]


def test_length_grouped_batches_cover_every_example_once_reproducibly():
    examples = _random_examples(523, seed=2, longest=200)
    batches = list(length_grouped_batches(examples, batch_size=4, seed=10, epoch=1))
    assert sorted(id(e) for b in batches for e in b) == sorted(map(id, examples))
    assert sum(len(b) < 4 for b in batches) == 1  # 523 = 130 * 4 + 3: one short batch
    again = list(length_grouped_batches(examples, batch_size=4, seed=10, epoch=1))
    assert [[id(e) for e in b] for b in again] == [[id(e) for e in b] for b in batches]
    other_epoch = list(length_grouped_batches(examples, batch_size=4, seed=10, epoch=2))
    assert [[id(e) for e in b] for b in other_epoch] != [[id(e) for e in b] for b in batches]
    # Within a window of 50 batches lengths are sorted, so each batch spans a narrow range of lengths.
    assert padding_fraction(batches) < 0.5 * padding_fraction(list(training_batches(examples, 4, 10, 1)))


def test_length_grouping_cuts_padding_on_the_shipped_instruction_data(smollm_tokenizer):
    splits = load_splits({"training": SAMPLES / "instruction" / "train"}, "instruction",
                         demarcation=True, validation_split_ratio=0.2, train_data_split_seed=0)
    examples, _ = encode_prompt_completion(smollm_tokenizer, splits.train + splits.validation, max_length=256)
    assert len(examples) >= 90 and max(_lengths(examples)) > 2 * min(_lengths(examples))
    random_waste = padding_fraction(list(training_batches(examples, 4, seed=10, epoch=1)))
    grouped = list(length_grouped_batches(examples, 4, seed=10, epoch=1))
    grouped_waste = padding_fraction(grouped)
    assert sorted(id(e) for b in grouped for e in b) == sorted(map(id, examples))
    # Plain random batches waste well over 20 % here; grouped ones only the rounding to multiples of 8.
    assert random_waste > 0.2
    assert grouped_waste < random_waste / 3, (grouped_waste, random_waste)
    # Rows of 256 hold only two of these 72..147-token examples, so packed rows waste ~10 %: less than random
    # batches, more than grouped ones. Whole batches flattened into one row (padding-free) waste nothing.
    packed_waste = padding_fraction([pack_examples(examples, 256)])
    assert packed_waste < random_waste, (packed_waste, random_waste)
    three = [e for batch in grouped[:3] for e in batch]
    flat = collate_packed([PackedRow(tuple(three))], pad_id=0, flatten=True)
    assert int(flat["attention_mask"].sum()) == flat["input_ids"].numel() == sum(_lengths(three))

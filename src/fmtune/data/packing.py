"""Packing several short examples into one row, with attention kept inside each example.

Instruction and chat examples are short next to `max_input_length`; padding each to the longest in its
batch spends most of the compute on pad tokens. Packing puts several examples in one row instead, and
keeps them independent:

- `position_ids` restart at 0 for each example. Called with `position_ids` and WITHOUT `attention_mask`,
  transformers' mask builder (sdpa and eager: tested in tests/unit/test_packing.py) turns every restart
  into a block boundary of a block-diagonal causal mask, so no token attends to another example;
- the first token of each example carries no loss (label -100): with the causal shift it would be
  predicted from the previous example's last token;
- `attention_mask` (ones on real tokens, zeros on padding) is returned for counting tokens only; it
  must NOT be passed to the model, which then falls back to one causal mask over the whole row.

The model call for a packed batch is therefore exactly `model(**packed_model_inputs(batch))`, i.e.
`model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False)`; the loss
is taken against `batch["labels"]` with the usual shift. `use_cache=False` matters: with a KV cache
(the default of most configs, even in train mode) transformers ignores `position_ids` when building
the mask and the examples silently attend to each other.

FlashAttention-2/3 detect packing from `position_ids` only for a batch of ONE row: on GPU with those
kernels, collate with `flatten=True` (all rows concatenated into one row; no padding at all).

`PackedRow` has `input_ids` and `labels` like `Encoded`, so the shared batching code (shuffles,
evaluation order, distributed slicing) treats rows as it treats examples, and `collate_packed` accepts
plain `Encoded` examples as one-example rows. Domain adaptation keeps its contiguous blocks (no packing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from fmtune.data.batching import PAD_MULTIPLE
from fmtune.data.encode import IGNORE_INDEX, Encoded

# The keys of a packed batch that go into the model call (plus use_cache=False); see the module docstring.
PACKED_MODEL_KEYS = ("input_ids", "position_ids")


@dataclass(frozen=True)
class PackedRow:
    """Whole examples that share one row; none is ever split across rows."""

    examples: tuple[Encoded, ...]

    @property
    def input_ids(self) -> list[int]:
        return [token for e in self.examples for token in e.input_ids]

    @property
    def labels(self) -> list[int]:
        """The examples' labels with each example's first token masked (see the module docstring)."""
        return [label for e in self.examples for label in _masked_first(e.labels)]

    @property
    def lengths(self) -> list[int]:
        return [len(e.input_ids) for e in self.examples]

    @property
    def position_ids(self) -> list[int]:
        return [p for n in self.lengths for p in range(n)]

    @property
    def n_target_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def pack_examples(examples: Sequence[Encoded], max_length: int) -> list[PackedRow]:
    """First-fit decreasing: longest example first, each into the first row with room for it.

    Deterministic (ties keep the input order). Rows end up nearly full: on instruction data FFD leaves
    only a few percent of each row empty. O(n log n) through a max-tree over the rows' free space."""
    too_long = [i for i, e in enumerate(examples) if len(e.input_ids) > max_length]
    if too_long:
        raise ValueError(f"examples {too_long[:5]} are longer than max_length={max_length}; truncate them first")
    if any(not e.input_ids for e in examples):
        raise ValueError("cannot pack an empty example")
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i].input_ids))  # stable: ties keep order
    free = _FreeSpace(len(examples), max_length)
    rows: list[list[Encoded]] = []
    for i in order:
        n = len(examples[i].input_ids)
        row = free.first_fit(n)
        if row == len(rows):
            rows.append([])
        rows[row].append(examples[i])
        free.take(row, n)
    return [PackedRow(tuple(r)) for r in rows]


def collate_packed(
    rows: Sequence[PackedRow | Encoded], pad_id: int, flatten: bool = False
) -> dict[str, torch.Tensor]:
    """Tensors for a batch of packed rows: input_ids, labels, position_ids, attention_mask.

    Rows are right-padded to the longest (rounded up to a multiple of 8); padding has label -100,
    attention_mask 0 and positions that restart at 0 (its own block, which no real token sees: it
    comes after them). `flatten=True` concatenates all rows into one row without padding (for
    FlashAttention varlen, and for padding-free batches of whole examples).

    Pass only `PACKED_MODEL_KEYS` to the model, with use_cache=False (`packed_model_inputs`)."""
    packed = [r if isinstance(r, PackedRow) else PackedRow((r,)) for r in rows]
    if flatten:
        packed = [PackedRow(tuple(e for r in packed for e in r.examples))]
        width = len(packed[0].input_ids)
    else:
        longest = max(len(r.input_ids) for r in packed)
        width = -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE
    ids = torch.full((len(packed), width), pad_id, dtype=torch.long)
    labels = torch.full((len(packed), width), IGNORE_INDEX, dtype=torch.long)
    positions = torch.zeros((len(packed), width), dtype=torch.long)
    mask = torch.zeros((len(packed), width), dtype=torch.long)
    for i, row in enumerate(packed):
        n = len(row.input_ids)
        ids[i, :n] = torch.tensor(row.input_ids)
        labels[i, :n] = torch.tensor(row.labels)
        positions[i, :n] = torch.tensor(row.position_ids)
        positions[i, n:] = torch.arange(width - n)
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "position_ids": positions, "attention_mask": mask}


def collate_packing(items: Sequence[PackedRow | Encoded], pad_id: int, max_length: int) -> dict[str, torch.Tensor]:
    """A training batch of examples, packed among themselves into rows of `max_length` (first-fit
    decreasing), as tensors. Items that are rows already (a pre-packed evaluation set) are kept as they are."""
    rows = [item for item in items if isinstance(item, PackedRow)]
    examples = [item for item in items if not isinstance(item, PackedRow)]
    return collate_packed(rows + pack_examples(examples, max_length), pad_id)


def packed_model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | bool]:
    """The keyword arguments of the model call for a packed batch: no attention_mask, no KV cache."""
    return {**{key: batch[key] for key in PACKED_MODEL_KEYS}, "use_cache": False}


@torch.no_grad()
def keeps_examples_apart(model: Any, device: torch.device) -> bool:
    """Whether this model, called as `packed_model_inputs` does, keeps two packed examples apart.

    Not every architecture builds its mask from `position_ids` (ALiBi models such as BLOOM ignore
    them), so this is checked on the model itself rather than assumed per family: the logits of two
    random sequences packed into one row must match those of each sequence alone, far more closely than
    the logits of the same row read as one sequence do (which is what contamination looks like). The
    relative test holds in fp32, bf16 and 8/4-bit alike."""
    vocab = model.get_input_embeddings().num_embeddings
    generator = torch.Generator().manual_seed(0)
    first, second = (torch.randint(vocab, (n,), generator=generator).tolist() for n in (7, 5))
    was_training = model.training
    model.eval()
    try:
        def log_probs(**inputs: Any) -> torch.Tensor:
            inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
            return model(**inputs).logits[0].float().log_softmax(-1)

        row = collate_packed([PackedRow((Encoded(first, first), Encoded(second, second)))], pad_id=0)
        packed = log_probs(**packed_model_inputs(row))[: len(first) + len(second)]
        alone = torch.cat([log_probs(input_ids=torch.tensor([ids]), use_cache=False) for ids in (first, second)])
        as_one = log_probs(input_ids=torch.tensor([first + second]), use_cache=False)
    finally:
        model.train(was_training)
    packing_error = (packed - alone).abs().max()
    contamination = (as_one - alone).abs().max()
    return bool(packing_error <= 0.05 * contamination)


def _masked_first(labels: list[int]) -> list[int]:
    return [IGNORE_INDEX, *labels[1:]] if labels else []


class _FreeSpace:
    """Free space of up to `n` rows in a max segment tree: the leftmost row with room in O(log n)."""

    def __init__(self, n: int, capacity: int):
        self.size = 1
        while self.size < max(n, 1):
            self.size *= 2
        self.tree = [capacity] * (2 * self.size)  # unopened rows are empty rows of full capacity

    def first_fit(self, need: int) -> int:
        node = 1
        while node < self.size:
            node = 2 * node if self.tree[2 * node] >= need else 2 * node + 1
        return node - self.size

    def take(self, row: int, amount: int) -> None:
        node = row + self.size
        self.tree[node] -= amount
        node //= 2
        while node:
            self.tree[node] = max(self.tree[2 * node], self.tree[2 * node + 1])
            node //= 2

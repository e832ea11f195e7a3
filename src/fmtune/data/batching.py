"""Batches of encoded examples as padded tensors."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import torch

from fmtune.data.encode import IGNORE_INDEX, Encoded

PAD_MULTIPLE = 8  # tensor cores and vectorized CPU kernels prefer lengths that are multiples of 8
MEGA_BATCH_FACTOR = 50  # length_grouped_batches sorts within windows of 50 batches, as HF's LengthGroupedSampler


def collate(examples: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest example (rounded up to a multiple of 8); padding carries no loss."""
    longest = max(len(e.input_ids) for e in examples)
    width = -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def collate_seq2seq(examples: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Encoder inputs and decoder labels padded separately (the model shifts labels into decoder inputs)."""
    inputs = collate([Encoded(e.input_ids, e.input_ids) for e in examples], pad_id)
    targets = collate([Encoded(e.labels, e.labels) for e in examples], pad_id)
    return {"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"], "labels": targets["labels"]}


def training_batches(
    examples: Sequence[Encoded], batch_size: int, seed: int, epoch: int
) -> Iterator[list[Encoded]]:
    """A fresh shuffle each epoch, reproducible from (seed, epoch)."""
    order = list(range(len(examples)))
    random.Random(seed * 100_003 + epoch).shuffle(order)
    for start in range(0, len(order), batch_size):
        yield [examples[i] for i in order[start : start + batch_size]]


def length_grouped_batches(
    examples: Sequence[Encoded], batch_size: int, seed: int, epoch: int
) -> Iterator[list[Encoded]]:
    """Batches of similar lengths for the unpacked path, in an order reproducible from (seed, epoch).

    Shuffle; sort each window of 50 batches by length (longest first) and cut it into batches; shuffle
    the batches. Each example appears once per epoch; padding is small and the order still random."""
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(examples)))
    rng.shuffle(order)
    window = MEGA_BATCH_FACTOR * batch_size
    batches = []
    for start in range(0, len(order), window):
        mega = sorted(order[start : start + window], key=lambda i: -len(examples[i].input_ids))
        batches.extend(mega[j : j + batch_size] for j in range(0, len(mega), batch_size))
    rng.shuffle(batches)
    for batch in batches:
        yield [examples[i] for i in batch]


def padding_fraction(batches: Sequence[Sequence[Encoded]]) -> float:
    """Share of the tokens in the padded batches (width rounded up to a multiple of 8) that are padding."""
    real = padded = 0
    for batch in batches:
        lengths = [len(e.input_ids) for e in batch]
        padded += len(lengths) * -(-max(lengths) // PAD_MULTIPLE) * PAD_MULTIPLE
        real += sum(lengths)
    return 1 - real / padded if padded else 0.0


def evaluation_batches(examples: Sequence[Encoded], batch_size: int) -> Iterator[list[Encoded]]:
    """Sorted by length so that little compute goes to padding; the loss does not depend on order."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    for start in range(0, len(order), batch_size):
        yield [examples[i] for i in order[start : start + batch_size]]

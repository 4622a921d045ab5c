"""Seeded splits, normalisation, batches and augmentation."""

from __future__ import annotations

import torch

from thrifty.data import DataConfig, eval_batches, load_data, train_batches
from thrifty.data.augment import crop_flip
from thrifty.data.batches import epoch_indices
from thrifty.data.splits import split_indices


def test_split_indices_are_seeded_disjoint_and_cover() -> None:
    a = split_indices(100, (0.2, 0.1), seed=3)
    b = split_indices(100, (0.2, 0.1), seed=3)
    assert [len(p) for p in a] == [20, 10, 70]
    assert all(torch.equal(torch.tensor(x), torch.tensor(y)) for x, y in zip(a, b, strict=True))
    assert sorted(int(i) for p in a for i in p) == list(range(100))
    assert split_indices(100, (0.2, 0.1), seed=4)[0].tolist() != a[0].tolist()


def test_digits_splits_and_normalisation() -> None:
    data = load_data(DataConfig(name="digits", train_subset=500, test_subset=100))
    assert (len(data.train), len(data.val), len(data.test)) == (500, 100, 100)
    assert data.train.images.shape[1:] == (1, 8, 8) and data.num_classes == 10
    # Normalised with the training split's own statistics: mean 0, std 1.
    assert abs(float(data.train.images.mean())) < 1e-5
    assert abs(float(data.train.images.std(unbiased=False)) - 1.0) < 1e-4
    again = load_data(DataConfig(name="digits", train_subset=500, test_subset=100))
    assert torch.equal(data.train.images, again.train.images)
    assert torch.equal(data.test.labels, again.test.labels)


def test_epoch_indices_shard_like_distributed_sampler() -> None:
    full = epoch_indices(10, epoch=1, seed=5)
    ranks = [epoch_indices(10, epoch=1, seed=5, rank=r, world_size=2) for r in range(2)]
    assert sorted(ranks[0] + ranks[1]) == list(range(10))
    assert ranks[0] == full[0::2] and ranks[1] == full[1::2]
    assert epoch_indices(10, epoch=2, seed=5) != full


def test_batches_resume_from_any_step() -> None:
    data = load_data(DataConfig(name="digits", train_subset=100))
    whole = list(train_batches(data.train, 16, epoch=3, seed=1, augment=True, crop_padding=2))
    tail = list(
        train_batches(data.train, 16, epoch=3, seed=1, augment=True, crop_padding=2, start_step=4)
    )
    assert len(whole) == 7 and len(tail) == 3
    for (xa, ya), (xb, yb) in zip(whole[4:], tail, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    evaluated = torch.cat([y for _, y in eval_batches(data.test, 50)])
    assert torch.equal(evaluated, data.test.labels)


def test_crop_flip_moves_pixels_exactly() -> None:
    images = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    out = crop_flip(images, padding=0, generator=torch.Generator().manual_seed(0))
    for i in range(2):  # without padding, each image is itself or its mirror
        assert torch.equal(out[i], images[i]) or torch.equal(out[i], images[i].flip(-1))
    padded = crop_flip(images, padding=2, generator=torch.Generator().manual_seed(1))
    assert padded.shape == images.shape
    # Every output pixel is a zero from the padding or an input pixel of the same image.
    for i in range(2):
        values = set(padded[i].flatten().tolist())
        assert values <= set(images[i].flatten().tolist()) | {0.0}


def test_fallback_to_digits_with_a_note(tmp_path) -> None:
    config = DataConfig(name="fashion_mnist", root=str(tmp_path / "none"), fallback="digits")
    data = load_data(config)
    assert data.name == "digits" and "falling back" in (data.note or "")

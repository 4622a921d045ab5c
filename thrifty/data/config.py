"""The `data:` section of a training config: which data set, where, how it is split and batched."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from thrifty._config import FrozenConfig

DatasetName = Literal["digits", "fashion_mnist", "mnist", "cifar10", "image_folder"]

#: Where the Debian package `dataset-fashion-mnist` installs its IDX files.
FASHION_MNIST_DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"


class DataConfig(FrozenConfig):
    """A data set, its splits and its batches. Nothing is ever downloaded."""

    name: DatasetName = Field("digits", description="Which data set to read.")
    root: str | None = Field(
        None,
        description="Folder holding the files. Default: the Debian package location for "
        "fashion_mnist; required for mnist, cifar10 and image_folder; unused for digits.",
    )
    fallback: Literal["digits"] | None = Field(
        None,
        description="Data set to use, with a message, when the folder is missing "
        "(e.g. Fashion-MNIST not installed). None: a missing folder is an error.",
    )
    val_fraction: float = Field(
        0.1, ge=0.0, lt=1.0, description="Fraction of the training split held out for validation."
    )
    test_fraction: float = Field(
        0.2,
        gt=0.0,
        lt=1.0,
        description="Fraction held out for testing, for data sets without a test split "
        "(digits, image_folder).",
    )
    split_seed: int = Field(
        0,
        description="Seed of the train/validation/test split (kept apart from the run seed "
        "so that runs with different seeds see the same splits).",
    )
    train_subset: int | None = Field(
        None, ge=1, description="Keep only this many training samples (seeded choice)."
    )
    test_subset: int | None = Field(
        None, ge=1, description="Keep only this many validation and test samples each."
    )
    augment: Literal["auto", "none", "crop_flip"] = Field(
        "auto",
        description="Training augmentation: crop_flip = random crop with padding and a "
        "horizontal flip; auto = crop_flip for images of 32×32 or more with 3 channels.",
    )
    crop_padding: int = Field(4, ge=0, description="Padding in pixels for the random crop.")
    image_size: int = Field(
        32, ge=4, description="Side in pixels that image_folder images are resized to."
    )
    batch_size: int = Field(128, ge=1, description="Training batch size (per process).")
    eval_batch_size: int = Field(512, ge=1, description="Evaluation batch size.")

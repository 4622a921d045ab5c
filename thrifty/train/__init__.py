"""Training: the config, the two-phase recipe (float → learn bitlengths → freeze + fine-tune),
resumable checkpoints and data-parallel runs.

    config = load_train_config("examples/digits.yaml", ["phases.learn.epochs=5"])
    summary = train(config)  # silent; `thrifty train` shows progress
"""

from thrifty.train.config import TrainConfig, load_train_config
from thrifty.train.progress import Reporter
from thrifty.train.recipe import train

__all__ = ["Reporter", "TrainConfig", "load_train_config", "train"]

"""Reference models, registered by name: `build_model("small_cnn", num_classes=10)`.

All are plain `torch.nn` modules; thrifty accepts any `nn.Module` from users as well.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from thrifty.errors import ConfigError
from thrifty.models.lenet import LeNet5
from thrifty.models.resnet import ResNet18, ResNet20
from thrifty.models.small_cnn import SmallCNN
from thrifty.models.vit import VisionTransformer, vit_tiny

MODELS: dict[str, Callable[..., nn.Module]] = {
    "small_cnn": SmallCNN,
    "lenet5": LeNet5,
    "resnet20": ResNet20,
    "resnet18": ResNet18,
    "vit_tiny": vit_tiny,
}


def build_model(
    name: str, num_classes: int = 10, in_channels: int = 1, image_size: int = 28
) -> nn.Module:
    """Build a registered model for inputs of `in_channels` × `image_size` × `image_size`."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](num_classes=num_classes, in_channels=in_channels, image_size=image_size)


__all__ = [
    "MODELS",
    "LeNet5",
    "ResNet18",
    "ResNet20",
    "SmallCNN",
    "VisionTransformer",
    "build_model",
]

"""Reference models: output shapes and the parameter counts of the published architectures."""

from __future__ import annotations

import pytest
import torch

from thrifty.errors import ConfigError
from thrifty.models import build_model


@pytest.mark.parametrize(
    ("name", "channels", "size"),
    [
        ("small_cnn", 1, 28),
        ("lenet5", 1, 28),
        ("lenet5", 3, 32),
        ("resnet20", 3, 32),
        ("resnet18", 3, 64),
    ],
)
def test_models_map_images_to_logits(name: str, channels: int, size: int) -> None:
    model = build_model(name, num_classes=7, in_channels=channels, image_size=size)
    assert model(torch.randn(2, channels, size, size)).shape == (2, 7)


def test_parameter_counts_match_the_papers() -> None:
    def count(model: torch.nn.Module) -> int:
        return sum(p.numel() for p in model.parameters())

    # ResNet-20: 0.27M parameters (He et al., Table 6); ResNet-18: 11.69M (torchvision's count).
    assert round(count(build_model("resnet20", 10, 3, 32)) / 1e6, 2) == 0.27
    assert count(build_model("resnet18", 1000, 3, 224)) == 11_689_512


def test_unknown_model_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown model 'vgg'.*small_cnn"):
        build_model("vgg")

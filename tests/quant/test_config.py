"""QuantConfig: YAML spellings, kind defaults, overrides, and errors that name the setting."""

from __future__ import annotations

import pytest
import yaml

from thrifty._config import parse_config
from thrifty.errors import ConfigError
from thrifty.quant import Granularity, QuantConfig


def test_plain_yaml_mapping_validates() -> None:
    text = """
    weight: {granularity: [group, 8], init_bits: 6, learnable: true}
    activation: {granularity: channel, kind: int_symmetric}
    overrides:
      - {pattern: "@first", weight: {init_bits: 8, learnable: false}}
      - {pattern: "layer1.*", activation: {kind: float_mantissa}}
    exclude: ["@last"]
    """
    config = QuantConfig.model_validate(yaml.safe_load(text))
    assert config.weight.granularity == Granularity("group", 8)
    assert config.activation.granularity == Granularity("channel")
    assert config.activation.min_bits == 2.0 and config.activation.max_bits == 16.0
    assert config.overrides[1].activation.apply(config.activation).max_bits == 7.0
    dumped = config.model_dump(mode="json")
    assert dumped["weight"]["granularity"] == ["group", 8]
    assert QuantConfig.model_validate(dumped) == config


def test_defaults_are_eight_bit_tensor_int() -> None:
    config = QuantConfig()
    assert config.weight.kind == "int" and config.weight.init_bits == 8.0
    assert config.weight.granularity == Granularity("tensor")
    float_kind = QuantConfig.model_validate({"weight": {"kind": "float_mantissa"}}).weight
    assert (float_kind.init_bits, float_kind.min_bits, float_kind.max_bits) == (7.0, 0.0, 7.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weight": {"granularity": "row"}}, "weight.granularity"),
        ({"weight": {"granularity": ["group", 0]}}, "positive group size"),
        ({"activation": {"init_bits": 20}}, "max_bits"),
        ({"weight": {"init_bits": 1.0}}, "init_bits=1.0 is outside"),
        ({"weight": {"kind": "float_mantissa", "max_bits": 30}}, "float_mantissa"),
        ({"weight": {"min_bits": 6, "max_bits": 4, "init_bits": 5}}, "min_bits=6.0"),
        ({"weights": {}}, "unknown key 'weights'"),
        ({"overrides": [{"pattern": "fc", "weight": {"init_bits": 40}}]}, "overrides\\[0\\]"),
        ({"overrides": [{"pattern": "fc", "bits": 4}]}, "unknown key 'overrides.0.bits'"),
        ({"activation_ema_momentum": 0}, "activation_ema_momentum"),
    ],
)
def test_bad_settings_raise_config_errors_naming_them(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(QuantConfig, data, "quantization config")


def test_override_changing_kind_takes_that_kinds_bounds() -> None:
    config = QuantConfig.model_validate(
        {"overrides": [{"pattern": "x", "weight": {"kind": "float_mantissa", "init_bits": 5}}]}
    )
    weight = config.overrides[0].weight.apply(config.weight)
    assert (weight.kind, weight.init_bits, weight.max_bits) == ("float_mantissa", 5.0, 7.0)

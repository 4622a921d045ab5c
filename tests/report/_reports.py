"""A generator of synthetic quickstart reports for the report and claims tests.

Round numbers chosen so that a test can state what the page and the claims must show, and
change one of them (`scale_speedups`) to move a verdict; its provenance says they are made up
(`config.synthetic = true`). Reports of real runs come from `run_quickstart` (see
tests/report/test_html_browser.py and tests/quickstart/test_pipeline.py).
"""

from __future__ import annotations

import copy
from typing import Any

from thrifty.hw.config import HardwareConfig
from thrifty.quickstart.claims import with_claims
from thrifty.report.schema import (
    REPORT_KIND,
    REPORT_SCHEMA_VERSION,
    SYNC_POLICIES,
    TRAINING_OPS,
    dump_report,
)
from thrifty.train.config import TrainConfig

SAMPLE_LAYERS = ("conv1", "conv2", "fc1", "fc2")
"""Layer names of thrifty's small CNN, the quickstart model."""

SAMPLE_AREA_RATIOS = (1.0, 1.5, 2.0, 2.5, 3.0)
"""Area ratios of the sample's iso-area sweep."""

# Whole-step speedup under tile sync of each variant; row and ideal are fixed multiples.
_TILE_SPEEDUP = {"float32": 1.5, "pruned": 2.0, "integer_bits": 2.5, "float_bits": 3.0}
_POLICY_FACTOR = {"tile": 1.0, "row": 1.25, "ideal": 1.5}
_OP_FACTOR = {"forward": 1.0, "backward_data": 0.8, "backward_weight": 1.2, "total": 1.0}
_ACCURACY = {"float32": 0.875, "pruned": 0.8625, "integer_bits": 0.86, "float_bits": 0.8675}
_MACS = {"forward": 1_000_000, "backward_data": 1_000_000, "backward_weight": 1_000_000}


def _policy_values(base: float) -> dict[str, float]:
    return {p: base * _POLICY_FACTOR[p] for p in SYNC_POLICIES}


def _terms(variant: str, op: str) -> dict[str, int]:
    total = 6_000_000 if op == "total" else 2_000_000
    zero_share = {"float32": 8, "pruned": 4, "integer_bits": 4, "float_bits": 2}[variant]
    zero = total // zero_share
    out_of_bounds = total // 16
    return {
        "total": total,
        "zero": zero,
        "out_of_bounds": out_of_bounds,
        "processed": total - zero - out_of_bounds,
    }


def _op(variant: str, op: str) -> dict[str, Any]:
    base = _TILE_SPEEDUP[variant] * _OP_FACTOR[op]
    return {
        "op": op,
        "macs": sum(_MACS.values()) if op == "total" else _MACS[op],
        "speedup": _policy_values(base),
        "energy_efficiency": _policy_values(base * 0.75),
        "terms": _terms(variant, op),
    }


def _layers(variant: str) -> list[dict[str, Any]]:
    rows = []
    for index, layer in enumerate(SAMPLE_LAYERS):
        row: dict[str, Any] = {
            "layer": layer,
            "weight_bits": None,
            "activation_bits": None,
            "gradient_bits": None,
            "weight_sparsity": None,
        }
        if variant == "integer_bits":
            row.update(weight_bits=3.0 + index * 0.5, activation_bits=4.0 + index)
        elif variant == "float_bits":
            row.update(weight_bits=2.0 + index, activation_bits=3.0, gradient_bits=5.0)
        elif variant == "pruned":
            row.update(weight_sparsity=0.75)
        rows.append(row)
    return rows


def _variant(name: str) -> dict[str, Any]:
    bits_kind = {"integer_bits": "integer", "float_bits": "mantissa"}.get(name, "none")
    total_tile = _TILE_SPEEDUP[name]
    return {
        "name": name,
        "accuracy": _ACCURACY[name],
        "bits_kind": bits_kind,
        "train_seconds": 30.0,
        "layers": _layers(name),
        "ops": [_op(name, op) for op in TRAINING_OPS],
        "total": _op(name, "total"),
        "iso_area_sweep": [
            {"area_ratio": r, "speedup": _policy_values(total_tile * r / 2.0)}
            for r in SAMPLE_AREA_RATIOS
        ],
        "comparisons": [],
        "codec": [
            {"tensor_class": "weights", "values": 100_000, "bits_per_value": 9.5},
            {"tensor_class": "activations", "values": 400_000, "bits_per_value": 7.25},
            {"tensor_class": "gradients", "values": 400_000, "bits_per_value": 11.0},
        ],
        "train_config": TrainConfig().model_dump(mode="json"),
    }


def sample_report_dict() -> dict[str, Any]:
    """A complete synthetic `report.json` dict whose claims all hold (before any change)."""
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "kind": REPORT_KIND,
        "provenance": {
            "thrifty_version": "0.0.0",
            "created_utc": "2026-01-01T00:00:00+00:00",
            "seed": 0,
            "machine": {"python": "3.11", "cpu_count": 2, "torch": "2.13.0"},
            "config": {"synthetic": True, "note": "made-up numbers for tests and docs"},
        },
        "fast": True,
        "model": "small_cnn",
        "dataset": {
            "name": "digits",
            "fell_back": True,
            "reason": "no Fashion-MNIST IDX files under /usr/share/datasets/fashion-mnist",
            "train_examples": 1437,
            "test_examples": 360,
            "image_size": 8,
            "num_classes": 10,
        },
        "hardware": {
            "baseline": "bit-parallel bfloat16 PEs",
            "area_ratio": 2.0,
            "sync_policies": list(SYNC_POLICIES),
            "headline_baseline": "dot_product",
            "areas": [],
            "preset": "default",
            "config": HardwareConfig().model_dump(mode="json"),
        },
        "variants": [_variant(name) for name in _TILE_SPEEDUP],
        "claims": [],
        "windows": [],
        "seconds": 95.0,
        "inference": _inference(),
    }


def _inference() -> dict:
    """Integer inference of the integer-bits variant: two layers, both precisions."""
    layers = [
        {"layer": name, "precision": precision, "activation_bits": bits, "weight_bits": bits,
         "term_serial_cycles": 100.0 * bits, "bit_serial_cycles": 150.0 * bits,
         "bit_parallel_cycles": 100.0}
        for name in ("conv", "fc") for precision, bits in (("learned", 4.0), ("uniform", 8.0))
    ]  # fmt: skip
    designs = [
        {"design": design, "precision": precision, "cycles": cycles * factor,
         "energy_pj": 1000.0 * cycles * factor}
        for design, cycles in (("term_serial", 2.0), ("bit_serial", 3.0), ("bit_parallel", 1.0))
        for precision, factor in (("learned", 1.0), ("uniform", 2.0))
    ]  # fmt: skip
    return {"variant": "integer_bits", "images": 4, "uniform_bits": 8, "sync_policy": "tile",
            "layers": layers, "designs": designs, "top1_agreement": 1.0,
            "logits_max_abs_error": 1e-6}  # fmt: skip


def _comparison(baseline: str, ts_codec: bool, base_codec: bool, speedup: float) -> dict:
    name = (f"term_serial{'+codec' if ts_codec else ''} vs {baseline}"
            f"{'+codec' if base_codec else ''}")  # fmt: skip
    energy = {"compute_uj": 1.0, "sram_uj": 2.0, "dram_uj": 4.0, "total_uj": 7.0}
    base = {"compute_uj": 3.0, "sram_uj": 2.0, "dram_uj": 4.0, "total_uj": 9.0}
    return {
        "name": name,
        "baseline": baseline,
        "term_serial_codec": ts_codec,
        "baseline_codec": base_codec,
        "speedup": _policy_values(speedup),
        "energy_efficiency_compute": 3.0,
        "energy_efficiency_compute_sram": 1.25,
        "energy_efficiency_total": 9.0 / 7.0,
        "term_serial_energy": energy,
        "baseline_energy": base,
    }


#: Whole-step speedup (tile) of the sample's float32 reference against each baseline, per
#: window; the per-lane FMA baseline is larger, so more term-serial tiles fit beside it.
BASELINE_SPEEDUP = {
    ("accumulator", "dot_product"): 0.8,
    ("accumulator", "per_lane_fma"): 1.2,
    ("product", "dot_product"): 0.9,
    ("product", "per_lane_fma"): 1.4,
}


def _comparisons(window: str) -> list[dict[str, Any]]:
    out = []
    for baseline in ("dot_product", "per_lane_fma"):
        speed = BASELINE_SPEEDUP[(window, baseline)]
        out += [_comparison(baseline, True, False, speed * 1.1),
                _comparison(baseline, False, False, speed),
                _comparison(baseline, True, True, speed * 0.9)]  # fmt: skip
    return out


def _areas(window: str) -> list[dict[str, Any]]:
    bump = 0.25 if window == "product" else 0.0
    return [
        {"baseline": "dot_product", "ratio": 1.5 + bump, "hand_count_ratio": 1.56,
         "term_serial_tiles": 6, "baseline_tiles": 4, "source": "synthesis (made up)"},
        {"baseline": "per_lane_fma", "ratio": 2.5 + bump, "hand_count_ratio": 2.45,
         "term_serial_tiles": 10, "baseline_tiles": 4, "source": "synthesis (made up)"},
    ]  # fmt: skip


def with_baselines(report: dict[str, Any]) -> dict[str, Any]:
    """A copy of `report` with both baselines and both windows, as a real run writes them:
    the float32 reference is slower than the dot-product PEs and faster than per-lane FMA."""
    report = copy.deepcopy(report)
    report["hardware"]["areas"] = _areas("accumulator")
    report["hardware"]["area_ratio"] = 1.5
    for variant in report["variants"]:
        variant["comparisons"] = _comparisons("accumulator")
    report["windows"] = [
        {
            "window": window,
            "window_bits": 27 if window == "accumulator" else 19,
            "areas": _areas(window),
            "comparisons": _comparisons(window),
            "iso_area_sweep": report["variants"][0]["iso_area_sweep"],
            "terms": _terms("float32", "total"),
            "numeric_cost": {
                "outputs": 1000,
                "term_error_mean": 1e-8 if window == "accumulator" else 1e-5,
                "term_error_max": 1e-6,
                "baseline_error_mean": 5e-9,
                "baseline_error_max": 1e-7,
                "fma_error_mean": 2e-8,
                "fma_error_max": 2e-7,
            },
        }
        for window in ("accumulator", "product")
    ]
    return report


def judged(report: dict[str, Any]) -> dict[str, Any]:
    """`report` with its claims judged, as the quickstart stores them before rendering."""
    return dump_report(with_claims(report))


def scale_speedups(report: dict[str, Any], variant: str, policy: str, factor: float) -> dict:
    """A copy of `report` with `variant`'s speedups under `policy` multiplied by `factor`."""
    report = copy.deepcopy(report)
    for entry in report["variants"]:
        if entry["name"] == variant:
            for op in [*entry["ops"], entry["total"]]:
                op["speedup"][policy] *= factor
    return report


__all__ = [
    "SAMPLE_AREA_RATIOS",
    "SAMPLE_LAYERS",
    "judged",
    "sample_report_dict",
    "scale_speedups",
    "with_baselines",
]

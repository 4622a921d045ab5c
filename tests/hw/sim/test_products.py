"""Products of two activations: lowered like any matrix product, simulated value-accurately,
reported as their own operation kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from thrifty.errors import SimulationError
from thrifty.hw.config import HardwareConfig
from thrifty.hw.pe.operands import operand_bits
from thrifty.hw.pe.oracle import run_oracle
from thrifty.hw.sim.dataflow import OPERANDS, assemble_output, geometry_from_dict, lower
from thrifty.hw.sim.operation import simulate_operation
from thrifty.hw.sim.simulation import simulate_entries, simulate_trace
from thrifty.report.simulation_table import kind_table, simulation_table
from thrifty.trace.geometry import matmul_geometry, op_macs

OLD_STORE = Path(__file__).parents[2] / "trace" / "data" / "store_v1"


def _config(**sections) -> HardwareConfig:
    base = {
        "tile": {"rows": 2, "cols": 3, "tiles": 2, "row_buffer_depth": 2},
        "area": {"iso_area": False},
        "memory": {"dram_bandwidth_gb_s": 1.0e9},
    }
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return HardwareConfig.model_validate(base)


def _product(shared: bool, dtype=torch.float32):
    """A (2, 2, 3, 5) · B (2, 2, 5, 4) (or B (5, 4) shared), its gradient and the geometry."""
    torch.manual_seed(4)
    a = torch.randn(2, 2, 3, 5, dtype=dtype, requires_grad=True)
    b = torch.randn(*((5, 4) if shared else (2, 2, 5, 4)), dtype=dtype, requires_grad=True)
    c = a @ b
    # Gradients spread over many binades: some products fall out of the accumulator window.
    grad = torch.randn_like(c) * torch.exp2(torch.randint(-24, 2, c.shape)).to(dtype)
    geometry = matmul_geometry(a, b, c.shape, dtype, "attention_qk", "test", 0.25)
    tensors = {"activation": a.detach(), "weight": b.detach(), "grad_output": grad}
    return geometry, tensors, (a, b, c)


@pytest.mark.parametrize("shared", [False, True])
def test_lowering_reproduces_the_product_and_autograd_gradients(shared):
    geometry, tensors, (a, b, c) = _product(shared, torch.float64)
    da, db = torch.autograd.grad(c, (a, b), tensors["grad_output"])
    geo = geometry_from_dict(geometry)
    for op, expected in (("forward", c), ("backward_data", da), ("backward_weight", db)):
        product = lower(op, geo, {n: tensors[n] for n in OPERANDS[op]}, float64=True)
        assert product.shape.macs == op_macs(geometry, op) == 2 * 2 * 3 * 5 * 4
        assert product.shape.groups == (1 if shared else 4)
        out = assemble_output(op, geo, [lhs @ rhs for lhs, rhs in zip(product.left,
                                                                      product.right,
                                                                      strict=True)])  # fmt: skip
        np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-12, atol=1e-12)


def _oracle_values(op: str, tensors, config: HardwareConfig, serial: str) -> np.ndarray:
    """Each output from one scalar-oracle run on the rows and columns the math names:
    C = A·B, dA = dC·Bᵀ, dB = Aᵀ·dC, per batch index, without the simulator's lowering."""
    a = tensors["activation"].numpy().reshape(4, 3, 5)
    b = tensors["weight"].numpy().reshape(4, 5, 4)
    g = tensors["grad_output"].numpy().reshape(4, 3, 4)
    pairs = {
        "forward": [(a[i], b[i]) for i in range(4)],
        "backward_data": [(g[i], b[i].T) for i in range(4)],
        "backward_weight": [(g[i].T, a[i]) for i in range(4)],  # dBᵀ = dCᵀ·A
    }[op]
    left_is_serial = serial == OPERANDS[op][0]
    outs = []
    for left, right in pairs:
        x, y = (left, right) if left_is_serial else (right.T, left.T)
        x_bits, _ = operand_bits(np.ascontiguousarray(x, np.float32), config.pe, "a")
        y_bits, _ = operand_bits(np.ascontiguousarray(y, np.float32), config.pe, "b")
        out = np.array(
            [[run_oracle([int(v) for v in x_bits[i]], [int(v) for v in y_bits[:, j]],
                         config.pe).value for j in range(y.shape[1])]
             for i in range(x.shape[0])],
            np.float32,
        )  # fmt: skip
        outs.append(out if left_is_serial else out.T)
    stacked = np.stack(outs)
    if op == "forward":
        return stacked.reshape(2, 2, 3, 4)
    if op == "backward_data":
        return stacked.reshape(2, 2, 3, 5)
    return stacked.transpose(0, 2, 1).reshape(2, 2, 5, 4)


@pytest.mark.parametrize(
    ("op", "serial"),
    [("forward", "activation"), ("forward", "weight"), ("backward_data", "grad_output"),
     ("backward_data", "weight"), ("backward_weight", "grad_output"),
     ("backward_weight", "activation")],
)  # fmt: skip
def test_simulated_products_equal_the_oracle_composition(op, serial):
    geometry, tensors, _ = _product(shared=False)
    config = _config(dataflow={op: serial})
    sim = simulate_operation("blocks.0.attn.qk", op, geometry, tensors, config, keep_values=True)
    np.testing.assert_array_equal(sim.values, _oracle_values(op, tensors, config, serial))
    assert sim.result.kind == "attention_qk"
    assert sim.result.serial_operand == serial
    assert sim.result.macs == 2 * 2 * 3 * 5 * 4


def test_report_shows_products_as_their_own_kind():
    geometry, tensors, _ = _product(shared=False)
    linear = {"kind": "linear", "input_shape": [3, 5], "weight_shape": [4, 5],
              "output_shape": [3, 4]}  # fmt: skip
    entries = [
        {"layer": "qk", "op": "forward", "geometry": geometry, "tensors": tensors},
        {"layer": "qk", "op": "backward_data", "geometry": geometry, "tensors": tensors},
        {"layer": "av", "op": "forward", "tensors": tensors,
         "geometry": {**geometry, "role": "attention_av"}},
        {"layer": "fc", "op": "forward", "geometry": linear,
         "tensors": {"activation": torch.randn(3, 5), "weight": torch.randn(4, 5)}},
    ]  # fmt: skip
    simulation = simulate_entries(entries, _config())
    kinds = simulation.by_kind()
    assert set(kinds) == {"linear", "attention_qk", "attention_av"}
    assert set(kinds["attention_qk"]) == {"all", "forward", "backward_data"}
    qk = [r for r in simulation.layers if r.layer == "qk"]
    assert kinds["attention_qk"]["all"].macs == sum(r.macs for r in qk)
    assert kinds["attention_qk"]["all"].cycles == {
        p: sum(r.cycles[p] for r in qk) for p in qk[0].cycles
    }
    assert simulation.total.kind == "mixed"
    report = simulation.to_dict()
    assert report["by_kind"]["attention_av"]["forward"]["kind"] == "attention_av"
    assert [r["kind"] for r in report["layers"]] == [
        "attention_qk", "attention_qk", "attention_av", "linear"
    ]  # fmt: skip
    assert kind_table(report).row_count == 3 + 2 + 2  # qk: all, fwd, bwd-data; av, fc: all, fwd
    assert simulation_table(report).row_count == 4 + 1  # the layers' rows and the total


def test_bad_product_geometry_is_named():
    geometry, _, _ = _product(shared=False)
    with pytest.raises(SimulationError, match=r"matmul shapes \[2, 2, 3, 5\] · \[2, 5, 4\]"):
        geometry_from_dict({**geometry, "weight_shape": [2, 5, 4]})
    with pytest.raises(SimulationError, match="output_shape .*is not"):
        geometry_from_dict({**geometry, "output_shape": [2, 2, 3, 3]})


def test_version_1_trace_simulates_as_before(recwarn):
    simulation = simulate_trace(OLD_STORE, _config())
    assert [r.kind for r in simulation.layers] == ["linear", "linear"]
    assert set(simulation.by_kind()) == {"linear"}

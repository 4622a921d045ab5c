"""A layer's simulation is the composition of PE-oracle runs; sampling intervals cover full runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.hw._sim_helpers import FASHION, capture_small_cnn_step
from thrifty.errors import ConfigError, SimulationError
from thrifty.hw.config import HardwareConfig, load_hardware_config, preset_names
from thrifty.hw.pe.operands import operand_bits
from thrifty.hw.pe.oracle import run_oracle
from thrifty.hw.sim.dataflow import OPERANDS, assemble_output, geometry_from_dict, lower
from thrifty.hw.sim.operation import simulate_operation
from thrifty.hw.sim.results import total
from thrifty.hw.sim.simulation import simulate_entries, simulate_trace, write_simulation


def _config(**sections) -> HardwareConfig:
    base = {
        "tile": {"rows": 2, "cols": 3, "tiles": 2, "row_buffer_depth": 2},
        "area": {"iso_area": False},
        "memory": {"dram_bandwidth_gb_s": 1.0e9},
    }
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return HardwareConfig.model_validate(base)


def _tiny_conv():
    torch.manual_seed(3)
    x = torch.relu(torch.randn(2, 4, 5, 5))
    w = torch.randn(4, 2, 3, 3)
    out = F.conv2d(x, w, stride=2, padding=1, groups=2)
    grad = torch.randn_like(out) * torch.exp2(torch.randint(-24, 2, out.shape).float())
    geometry = {"kind": "conv2d", "input_shape": list(x.shape), "weight_shape": list(w.shape),
                "output_shape": list(out.shape), "stride": [2, 2], "padding": [1, 1],
                "dilation": [1, 1], "groups": 2}  # fmt: skip
    tensors = {"activation": x, "weight": w, "grad_output": grad}
    return geometry, tensors


def _composed_by_oracle(op, geometry, tensors, config, serial):
    """Values and per-policy cycles composed from one scalar-oracle run per output."""
    geo = geometry_from_dict(geometry)
    product = lower(op, geo, {n: tensors[n] for n in OPERANDS[op]})
    rows, cols, depth, tiles = 2, 3, 2, 2
    costs = {"tile": [], "row": [], "ideal": []}
    outputs, processed, oob = [], 0, 0
    for left, right in zip(product.left, product.right, strict=True):
        a, b = (left, right) if serial == product.left_name else (right.T, left.T)
        a_bits, _ = operand_bits(np.ascontiguousarray(a), config.pe, "a")
        b_bits, _ = operand_bits(np.ascontiguousarray(b), config.pe, "b")
        m, n = a.shape[0], b.shape[1]
        out = np.zeros((m, n), np.float32)
        steps = {}
        for i in range(m):
            for j in range(n):
                res = run_oracle([int(v) for v in a_bits[i]], [int(v) for v in b_bits[:, j]],
                                 config.pe)  # fmt: skip
                out[i, j] = res.value
                steps[i, j] = res.step_cycles
                processed += res.terms_processed
                oob += res.terms_out_of_bounds
        n_steps = len(steps[0, 0])
        for ti in range(0, m, rows):
            for tj in range(0, n, cols):
                pes = [(i, j) for i in range(ti, min(m, ti + rows))
                       for j in range(tj, min(n, tj + cols))]  # fmt: skip
                costs["tile"].append(sum(max(steps[p][s] for p in pes) for s in range(n_steps)))
                costs["ideal"].append(max(sum(steps[p]) for p in pes))
                row_ids = sorted({i for i, _ in pes})
                finish, done = dict.fromkeys(row_ids, 0), []
                for s in range(n_steps):
                    gate = done[s - depth] if s >= depth else 0
                    for r in row_ids:
                        pace = max(steps[i, j][s] for i, j in pes if i == r)
                        finish[r] = max(finish[r], gate) + pace
                    done.append(max(finish.values()))
                costs["row"].append(max(finish.values()))
        outputs.append(out if serial == product.left_name else out.T)
    cycles = {p: max(sum(c[t::tiles]) for t in range(tiles)) for p, c in costs.items()}
    return assemble_output(op, geo, outputs), cycles, processed, oob


@pytest.mark.parametrize(
    ("op", "serial"),
    [("forward", "activation"), ("forward", "weight"), ("backward_data", "grad_output"),
     ("backward_data", "weight"), ("backward_weight", "grad_output"),
     ("backward_weight", "activation")],
)  # fmt: skip
def test_layer_simulation_is_composition_of_oracle_runs(op, serial):
    geometry, tensors = _tiny_conv()
    config = _config(dataflow={op: serial})
    sim = simulate_operation("conv", op, geometry, tensors, config, keep_values=True)
    values, cycles, processed, oob = _composed_by_oracle(op, geometry, tensors, config, serial)
    np.testing.assert_array_equal(sim.values, values)
    assert sim.result.compute_cycles == {p: float(c) for p, c in cycles.items()}
    assert sim.result.terms["processed"] == processed
    assert sim.result.terms["out_of_bounds"] == oob
    assert sim.result.serial_operand == serial


def test_linear_composition_and_oracle_choice():
    torch.manual_seed(1)
    x = torch.relu(torch.randn(5, 7))
    w = torch.randn(3, 7)
    geometry = {"kind": "linear", "input_shape": [5, 7], "weight_shape": [3, 7],
                "output_shape": [5, 3]}  # fmt: skip
    tensors = {"activation": x, "weight": w}
    sim = simulate_operation("fc", "forward", geometry, tensors, _config(), keep_values=True)
    values, cycles, _, _ = _composed_by_oracle(
        "forward", geometry, tensors, _config(), "activation"
    )
    np.testing.assert_array_equal(sim.values, values)
    assert sim.result.compute_cycles == {p: float(c) for p, c in cycles.items()}
    chosen = simulate_operation(
        "fc", "forward", geometry, tensors, _config(dataflow={"forward": "oracle"})
    ).result
    assert set(chosen.oracle_terms) == {"activation", "weight"}
    assert chosen.serial_operand == min(chosen.oracle_terms, key=chosen.oracle_terms.get)


def test_baseline_closed_form_and_roofline():
    geometry, tensors = _tiny_conv()
    config = _config(memory={"dram_bandwidth_gb_s": 1.0e-3, "clock_ghz": 1.0})
    r = simulate_operation("conv", "forward", geometry, tensors, config).result
    # forward: per group M = 2·3·3 = 18, N = 2, K = 2·9 = 18 → S = 3 steps of 8 lanes;
    # 9 × 1 output tiles of 2 × 3 PEs per group, dealt to T = 2 tiles.
    assert r.output_tiles == 18
    compute_baseline = math.ceil(18 / 2) * 3
    bits = 16 * (2 * 4 * 25 + 4 * 2 * 9 + 2 * 4 * 9)
    assert r.memory_cycles == math.ceil(bits / 8 / 1.0e-3)
    assert r.baseline_cycles["tile"] == max(compute_baseline, r.memory_cycles)
    assert r.cycles["tile"] == r.memory_cycles  # this bandwidth makes it memory-bound
    fast = simulate_operation("conv", "forward", geometry, tensors, _config()).result
    assert fast.baseline_cycles == dict.fromkeys(("tile", "row", "ideal"), compute_baseline)


def test_codec_traffic_reported_beside_uncompressed():
    geometry, tensors = _tiny_conv()
    r = simulate_operation(
        "conv", "forward", geometry, tensors, _config(memory={"use_codec": True})
    ).result
    assert r.offchip_bits["codec"] is not None
    assert r.offchip_bits["uncompressed"] == 16 * (200 + 72 + 72)


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory):
    if not FASHION.is_dir():
        pytest.skip("Fashion-MNIST IDX files are not installed")
    return capture_small_cnn_step(tmp_path_factory.mktemp("trace") / "t")


def test_sampling_interval_covers_full_run_on_real_trace(small_trace):
    full_cfg = _config(tile={"rows": 8, "cols": 8, "tiles": 1})
    full = simulate_trace(small_trace, full_cfg)
    sample_cfg = _config(tile={"rows": 8, "cols": 8, "tiles": 1}, sampling={"fraction": 0.25})
    sampled = simulate_trace(small_trace, sample_cfg)
    # 4 layers × 3 operations, less conv1's input gradient (the images need none)
    assert len(full.layers) == len(sampled.layers) == 11
    covered = widths = 0
    for f, s in zip(full.layers, sampled.layers, strict=True):
        interval = s.cycles_interval(0.95)
        for policy in ("tile", "row", "ideal"):
            lo, hi = interval[policy]
            covered += lo <= f.cycles[policy] <= hi
            widths += hi > lo
    assert covered >= 0.8 * 33
    assert widths >= 15  # most records really were sampled
    interval = sampled.total.cycles_interval(0.95)
    for policy in ("tile", "row", "ideal"):
        lo, hi = interval[policy]
        assert lo <= full.total.cycles[policy] <= hi
        assert hi > lo


def test_records_add_up_and_json_is_complete(small_trace, tmp_path):
    sim = simulate_trace(small_trace, load_hardware_config("default"), jobs=1)
    summed = total(sim.layers)
    assert summed.macs == sim.total.macs == sum(r.macs for r in sim.layers)
    assert summed.cycles == sim.total.cycles
    assert sim.total.energy_total_pj == pytest.approx(sum(r.energy_total_pj for r in sim.layers))
    path = write_simulation(sim, tmp_path)
    data = json.loads(path.read_text())
    record = data["layers"][0]
    for key in ("layer", "op", "macs", "baseline_cycles", "cycles", "speedup", "energy_pj",
                "terms", "energy_efficiency", "sweep_speedup"):  # fmt: skip
        assert key in record
    assert set(record["speedup"]) == {"tile", "row", "ideal"}
    t = record["terms"]
    assert t["total"] == t["zero"] + t["out_of_bounds"] + t["processed"]
    assert data["config"]["tile"]["rows"] == 8 and data["total"]["layer"] == "total"
    assert set(data["by_op"]) == {"forward", "backward_data", "backward_weight"}


def test_simulate_entries_in_memory_and_errors():
    geometry, tensors = _tiny_conv()
    sim = simulate_entries(
        [{"layer": "c", "op": "forward", "geometry": geometry, "tensors": tensors}], _config()
    )
    assert sim.total.macs == 2 * 9 * 4 * 2 * 9  # batch · positions · out · in/g · k
    with pytest.raises(SimulationError, match="missing \\['weight'\\]"):
        simulate_operation("c", "backward_data", geometry, {"grad_output": tensors["grad_output"]},
                           _config())  # fmt: skip
    with pytest.raises(SimulationError, match="holds no entries"):
        simulate_entries([], _config())


def test_config_errors_name_the_key(tmp_path):
    assert "default" in preset_names()
    bad = tmp_path / "bad.yaml"
    bad.write_text("tile:\n  rows: 8\n  colums: 4\n")
    with pytest.raises(ConfigError, match="unknown key 'tile.colums'"):
        load_hardware_config(bad)
    with pytest.raises(ConfigError, match="unknown accelerator preset 'huge'"):
        load_hardware_config("huge")
    good = tmp_path / "good.yaml"
    good.write_text("tile:\n  tiles: 2\n")
    assert load_hardware_config(good).tile.tiles == 2


def test_chunking_does_not_change_results():
    geometry, tensors = _tiny_conv()
    for op in ("forward", "backward_data", "backward_weight"):
        one = simulate_operation("c", op, geometry, tensors, _config(), keep_values=True)
        tiny = _config(sampling={"chunk_mib": 1e-6})  # one row of output tiles per chunk
        many = simulate_operation("c", op, geometry, tensors, tiny, keep_values=True)
        np.testing.assert_array_equal(one.values, many.values)
        assert one.result.compute_cycles == many.result.compute_cycles
        assert one.result.terms == many.result.terms


def test_entries_prepared_ahead_keep_their_order_seeds_and_errors():
    """A whole-trace run lowers entry i + 1 in a second thread while entry i runs: the records
    are the one-at-a-time `simulate_operation` records, in order, each with its own sampling
    seed, and a bad entry fails with its own message after the entries before it ran."""
    geometry, tensors = _tiny_conv()
    config = _config(sampling={"fraction": 0.5})
    ops = ["forward", "backward_weight", "backward_data", "forward"]
    entries = [{"layer": f"c{i}", "op": op, "geometry": geometry, "tensors": tensors}
               for i, op in enumerate(ops)]  # fmt: skip
    sim = simulate_entries(entries, config)
    alone = [simulate_operation(f"c{i}", op, geometry, tensors, config, seed_offset=i).result
             for i, op in enumerate(ops)]  # fmt: skip
    assert [r.layer for r in sim.layers] == ["c0", "c1", "c2", "c3"]
    for got, want in zip(sim.layers, alone, strict=True):
        assert got.to_dict(0.95) == want.to_dict(0.95)
    # the same operation at another index draws another sample (seed_offset = index)
    assert sim.layers[0].cycles_variance != sim.layers[3].cycles_variance
    bad = {"layer": "broken", "op": "forward", "geometry": geometry, "tensors": {"weight": 0}}
    with pytest.raises(SimulationError, match="broken forward needs tensors"):
        simulate_entries([*entries[:2], bad, entries[3]], config)


def test_block_indices_cover_whole_blocks_and_cut_the_last():
    from thrifty.hw.sim.operation import _block_indices

    # blocks 0 and 2 of size 3 over 8 rows: 0..2, then 6..7 (block 2 is cut at 8)
    np.testing.assert_array_equal(_block_indices(np.array([0, 2]), 3, 8), [0, 1, 2, 6, 7])
    np.testing.assert_array_equal(_block_indices(np.arange(3), 3, 8), np.arange(8))
    assert _block_indices(np.array([], np.int64), 4, 10).size == 0

"""Benchmark: regularizer criterion 'terms' against 'bits' on Fashion-MNIST (small CNN).

For each seed: train the float model once (`--float-epochs`); from it, for each criterion and
each of its targets (target mode: λ adapts until the cost reaches the target — mean bits for
'bits', terms per serial value for 'terms', serial operand the activations as in the
simulator's forward pass), learn bitlengths (`--learn-epochs`), freeze and fine-tune
(`--finetune-epochs`). The last training step of fine-tuning is traced (forward, backward-data,
backward-weight of every layer) and then measured:

- training step: `thrifty.hw.simulate_trace` with the default hardware config (term-serial
  accelerator at iso compute area against the fused dot-product baseline; `--sample` of the
  output tiles): cycles per sync policy, speedup over the baseline, and the forward op alone;
- inference: the frozen model's integer operands on `--inference-images` test images, every
  layer lowered to a matrix product (im2col; serial operand the activation codes, parallel the
  weight codes; codes centred on their zero point, as the criterion counts them) and run
  through `thrifty.hw.pe.integer.integer_step_cycles`: term-serial cycles (max over 8 lanes of
  NAF terms per step, at least 1; lanes with a zero weight idle; K padded only at its end),
  bit-serial (learned activation bits per step) and bit-parallel (1 per step) summed over the
  PEs' steps; no tile lockstep, no area scaling;
- accuracy (test split), mean bits (weights and inputs, the paper's metric), weight and
  activation mean bits, and the frozen model's terms per serial value on the inference images.

Results: mean and (min, max) over seeds per variant, per-seed rows, and the config, version
and seed, in benchmarks/results/<name>.json; `--plot` draws accuracy against simulated cycles.

    python benchmarks/terms_vs_bits.py --subset 6000 --test-subset 2000
    python benchmarks/terms_vs_bits.py --plot benchmarks/results/terms_vs_bits.json
    python benchmarks/terms_vs_bits.py --table benchmarks/results/terms_vs_bits.json

Not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import thrifty  # noqa: E402
from benchmarks._common import write_result  # noqa: E402
from thrifty._config import with_overrides  # noqa: E402
from thrifty.data import DataSplits, load_data  # noqa: E402
from thrifty.hw.config import load_hardware_config  # noqa: E402
from thrifty.hw.pe.integer import integer_step_cycles  # noqa: E402
from thrifty.hw.sim.simulation import simulate_trace  # noqa: E402
from thrifty.models import build_model  # noqa: E402
from thrifty.quant import quantized_layers  # noqa: E402
from thrifty.quant.costs import layer_bits, set_term_counting, terms_cost  # noqa: E402
from thrifty.train import TrainConfig  # noqa: E402
from thrifty.train import train as train_run  # noqa: E402

_SPLITS: dict[str, DataSplits] = {}
POLICIES = ("tile", "row", "ideal")


def _data(config: TrainConfig) -> DataSplits:
    key = config.data.model_dump_json()
    if key not in _SPLITS:
        _SPLITS[key] = load_data(config.data)
    return _SPLITS[key]


def _base(args: argparse.Namespace, seed: int, out: Path) -> dict[str, Any]:
    return {
        "seed": seed,
        "device": "cpu",
        "out": str(out),
        "model": {"name": "small_cnn"},
        "data": {
            "name": "fashion_mnist",
            "train_subset": args.subset,
            "test_subset": args.test_subset,
            "batch_size": args.batch_size,
        },
        "optimizer": {"name": "adam", "lr": args.lr, "bits_lr": args.bits_lr},
        "schedule": {"name": "cosine"},
    }


def variants(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """name → regularizer section; every variant learns weight and input bitlengths from 8."""
    out = {}
    for target in args.bits_targets:
        out[f"bits_t{target:g}"] = {"criterion": "bits", "strength": 0.05, "target": target}
    for target in args.terms_targets:
        out[f"terms_t{target:g}"] = {"criterion": "terms", "strength": 0.05, "target": target}
    return out


def _centred_codes(x: torch.Tensor, bits: int, lo: torch.Tensor, hi: torch.Tensor, clamp: bool):
    """Integer codes of the asymmetric quantizer centred on the zero point (int64), as the
    criterion counts them: c − z with c = round((x − lo)/Δ), z = round(−lo/Δ) clipped."""
    levels = float(2**bits - 1)
    span = hi - lo
    step = torch.where(span > 0, span / levels, torch.ones_like(span))
    codes = torch.round((x - lo) / step)
    if clamp:
        codes = codes.clamp(0.0, levels)
    zero = torch.round(-lo / step).clamp(0.0, levels)
    return (codes - zero).to(torch.int64)


def inference_cycles(model: torch.nn.Module, images: torch.Tensor, chunk: int = 4096) -> dict:
    """Term-serial, bit-serial and bit-parallel PE cycles of the frozen model's integer forward
    pass on `images` (serial: activation codes; lanes 8, NAF, min 1 cycle per step)."""
    inputs: dict[str, torch.Tensor] = {}
    hooks = [
        layer.register_forward_pre_hook(lambda m, a, name=name: inputs.__setitem__(name, a[0]))
        for name, layer in quantized_layers(model)
    ]
    model.eval()
    with torch.no_grad():
        model(images)
    for hook in hooks:
        hook.remove()
    per_layer, totals = [], {"term_serial": 0, "bit_serial": 0, "bit_parallel": 0}
    for name, layer in quantized_layers(model):
        aq, wq = layer.input_quantizer, layer.weight_quantizer
        a_bits, w_bits = int(aq.bitlength.item()), int(wq.bitlength.item())
        x = inputs[name]
        a = _centred_codes(x, a_bits, aq.running_lo, aq.running_hi, clamp=True)
        w = layer.weight.detach()
        wc = _centred_codes(w, w_bits, w.amin(), w.amax(), clamp=False)
        if isinstance(layer, torch.nn.Conv2d):
            cols = F.unfold(a.double(), layer.kernel_size, layer.dilation, layer.padding,
                            layer.stride)  # fmt: skip
            matrix = cols.transpose(1, 2).reshape(-1, cols.shape[1]).to(torch.int64)
        else:
            matrix = a.reshape(-1, a.shape[-1])
        weights = wc.reshape(wc.shape[0], -1).T.contiguous()
        a_np, w_np = matrix.numpy(), weights.numpy()
        width = a_bits if a_np.min() >= 0 else a_bits + 1
        term_serial = 0
        for start in range(0, a_np.shape[0], chunk):
            steps = integer_step_cycles(a_np[start : start + chunk], w_np, width)
            term_serial += int(steps.sum(dtype=np.int64))
        step_count = a_np.shape[0] * w_np.shape[1] * -(-a_np.shape[1] // 8)
        row = {
            "layer": name,
            "activation_bits": a_bits,
            "weight_bits": w_bits,
            "term_serial_cycles": term_serial,
            "bit_serial_cycles": step_count * a_bits,
            "bit_parallel_cycles": step_count,
        }
        per_layer.append(row)
        for key in totals:
            totals[key] += row[f"{key}_cycles"]
    return {
        "images": int(images.shape[0]),
        **{f"{k}_cycles": v for k, v in totals.items()},
        "speedup_over_bit_parallel_pe_cycles": totals["bit_parallel"] / totals["term_serial"],
        "speedup_over_bit_serial": totals["bit_serial"] / totals["term_serial"],
        "layers": per_layer,
    }


def serial_terms(model: torch.nn.Module, images: torch.Tensor) -> float:
    """The frozen model's 'terms' cost (NAF terms per activation value) on `images`."""
    set_term_counting(model, thrifty.TermsConfig())
    model.eval()
    with torch.no_grad():
        model(images)
        value = float(terms_cost(layer_bits(model)))
    set_term_counting(model, None)
    return value


def training_step(trace: Path, sample: float) -> dict:
    """The traced step on the default accelerator config, `sample` of the output tiles."""
    config = with_overrides(load_hardware_config("default"), [f"sampling.fraction={sample!r}"])
    simulation = simulate_trace(trace, config)
    total, forward = simulation.total, simulation.by_op()["forward"]
    return {
        "cycles": dict(total.cycles),
        "baseline_cycles": dict(total.baseline_cycles),
        "speedup": dict(total.speedup),
        "forward_cycles": dict(forward.cycles),
        "forward_speedup": dict(forward.speedup),
        "terms_processed": total.terms.get("processed"),
        "sampled_fraction": total.sampled_fraction,
        "area_ratio": simulation.to_dict()["area"]["ratio"],
        "baseline": simulation.config.baseline,
    }


def run_seed(args: argparse.Namespace, seed: int, root: Path) -> dict[str, dict[str, Any]]:
    """Float model, then every variant of `variants` for one seed: name → measured row."""
    float_out = root / f"seed{seed}" / "float"
    no_quant = {"learn": {"epochs": 0}, "finetune": {"epochs": 0}}
    float_config = TrainConfig.model_validate(
        {
            **_base(args, seed, float_out),
            "phases": {"float": {"epochs": args.float_epochs}, **no_quant},
        }
    )
    data = _data(float_config)
    summary = train_run(float_config, data=data)
    rows: dict[str, dict[str, Any]] = {"float": {"accuracy": summary["final_accuracy"]}}
    print(f"seed {seed} float: {100 * summary['final_accuracy']:.2f}%", flush=True)
    images = data.test.images[: args.inference_images]
    last_epoch = args.learn_epochs + args.finetune_epochs - 1  # trace epochs count all phases
    for name, regularizer in variants(args).items():
        out = root / f"seed{seed}" / name
        start = time.perf_counter()
        config = TrainConfig.model_validate(
            {
                **_base(args, seed, out),
                "quant": {"weight": {"init_bits": 8}, "activation": {"init_bits": 8}},
                "regularizer": regularizer,
                "trace": {"epochs": [last_epoch], "steps": "last"},
                "phases": {
                    "float": {"checkpoint": str(float_out / "float_model.pt")},
                    "learn": {"epochs": args.learn_epochs},
                    "finetune": {"epochs": args.finetune_epochs, "lr": args.finetune_lr},
                },
            }
        )
        summary = train_run(config, data=data)
        trained_s = time.perf_counter() - start
        model = thrifty.quantize(
            build_model("small_cnn", num_classes=10, in_channels=1, image_size=28), config.quant
        )
        model.load_state_dict(torch.load(out / "model.pt", weights_only=True))
        thrifty.freeze(model)  # the bitlengths are integers already: freeze keeps them
        row = {
            "accuracy": summary["final_accuracy"],
            "mean_bits": summary["mean_bits"],
            "mean_weight_bits": summary["mean_weight_bits"],
            "mean_activation_bits": summary["mean_activation_bits"],
            "serial_terms_per_value": serial_terms(model, images),
            "inference": inference_cycles(model, images),
            "training_step": training_step(out / "trace" / "finetune", args.sample),
            "layers": summary["layers"],
            "train_seconds": trained_s,
            "seconds": time.perf_counter() - start,
        }
        rows[name] = row
        print(
            f"seed {seed} {name}: {100 * row['accuracy']:.2f}% mean bits {row['mean_bits']:.2f} "
            f"terms {row['serial_terms_per_value']:.3f} step cycles (tile) "
            f"{row['training_step']['cycles']['tile']:.4g} speedup "
            f"{row['training_step']['speedup']['tile']:.3f} inference term-serial "
            f"{row['inference']['term_serial_cycles']:.4g}",
            flush=True,
        )
    return rows


#: Numbers aggregated over seeds: key → path into a row.
AGGREGATED = {
    "accuracy": ("accuracy",),
    "mean_bits": ("mean_bits",),
    "mean_weight_bits": ("mean_weight_bits",),
    "mean_activation_bits": ("mean_activation_bits",),
    "serial_terms_per_value": ("serial_terms_per_value",),
    "step_cycles_tile": ("training_step", "cycles", "tile"),
    "step_speedup_tile": ("training_step", "speedup", "tile"),
    "step_speedup_ideal": ("training_step", "speedup", "ideal"),
    "forward_cycles_tile": ("training_step", "forward_cycles", "tile"),
    "forward_speedup_tile": ("training_step", "forward_speedup", "tile"),
    "inference_term_serial_cycles": ("inference", "term_serial_cycles"),
    "inference_bit_serial_cycles": ("inference", "bit_serial_cycles"),
    "inference_bit_parallel_cycles": ("inference", "bit_parallel_cycles"),
    "inference_speedup_over_bit_parallel": ("inference", "speedup_over_bit_parallel_pe_cycles"),
    "inference_speedup_over_bit_serial": ("inference", "speedup_over_bit_serial"),
}


def _get(row: dict, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(row, dict) or key not in row:
            return None
        row = row[key]
    return row


def aggregate(per_seed: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Mean, min, max over seeds of every AGGREGATED number, per variant."""
    table: dict[str, dict[str, Any]] = {}
    for name in per_seed[0]:
        table[name] = {}
        for key, path in AGGREGATED.items():
            values = [v for seed in per_seed if (v := _get(seed[name], path)) is not None]
            if values:
                table[name][key] = {
                    "mean": statistics.fmean(values),
                    "min": min(values),
                    "max": max(values),
                    "n": len(values),
                }
    return table


def markdown_table(path: Path) -> str:
    """The docs/results.md table of a results JSON: mean [min, max] over seeds per variant."""
    summary = json.loads(path.read_text())["results"]["summary"]

    def cell(row: dict, key: str, scale: float = 1.0, digits: int = 2) -> str:
        if key not in row:
            return "-"
        v = row[key]
        return (
            f"{scale * v['mean']:.{digits}f} [{scale * v['min']:.{digits}f}, "
            f"{scale * v['max']:.{digits}f}]"
        )

    lines = [
        "| variant | test top-1 % | mean bits (w / a) | terms per activation | training-step "
        "cycles (M, tile) | step speedup (tile) | inference term-serial cycles (M) | "
        "inference speedup vs bit-parallel / bit-serial |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in summary.items():
        if name == "float":
            lines.append(f"| float | {cell(row, 'accuracy', 100)} | 32 | - | - | - | - | - |")
            continue
        lines.append(
            f"| {name} | {cell(row, 'accuracy', 100)} | {cell(row, 'mean_bits')} "
            f"({row['mean_weight_bits']['mean']:.2f} / {row['mean_activation_bits']['mean']:.2f})"
            f" | {cell(row, 'serial_terms_per_value', 1, 3)} | "
            f"{cell(row, 'step_cycles_tile', 1e-6, 3)} | {cell(row, 'step_speedup_tile', 1, 3)} | "
            f"{cell(row, 'inference_term_serial_cycles', 1e-6, 2)} | "
            f"{row['inference_speedup_over_bit_parallel']['mean']:.3f} / "
            f"{row['inference_speedup_over_bit_serial']['mean']:.3f} |"
        )
    return "\n".join(lines)


def plot(path: Path, out: Path) -> Path:
    """Accuracy against simulated cycles (training step and inference), both criteria."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from thrifty._io import atomic_path

    result = json.loads(path.read_text())["results"]
    summary = result["summary"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    panels = (
        ("step_cycles_tile", "training step: term-serial cycles (tile lockstep, M)"),
        ("inference_term_serial_cycles", "inference: term-serial PE cycles (M)"),
    )
    for ax, (key, label) in zip(axes, panels, strict=True):
        for criterion, style in (("bits", "o-"), ("terms", "s--")):
            rows = sorted(
                (r[key]["mean"] * 1e-6, 100 * r["accuracy"]["mean"], r)
                for n, r in summary.items()
                if n.startswith(f"{criterion}_t")
            )
            if not rows:
                continue
            xs, ys = [x for x, _, _ in rows], [y for _, y, _ in rows]
            xerr = [[x - 1e-6 * r[key]["min"] for x, _, r in rows],
                    [1e-6 * r[key]["max"] - x for x, _, r in rows]]  # fmt: skip
            yerr = [[y - 100 * r["accuracy"]["min"] for _, y, r in rows],
                    [100 * r["accuracy"]["max"] - y for _, y, r in rows]]  # fmt: skip
            ax.errorbar(xs, ys, xerr=xerr, yerr=yerr, fmt=style, capsize=3,
                        label=f"criterion '{criterion}'")  # fmt: skip
            for x, y, r in rows:
                name = next(n for n, v in summary.items() if v is r)
                ax.annotate(name.split("_t")[1], (x, y), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")  # fmt: skip
        start = 100 * summary["float"]["accuracy"]["mean"]
        ax.axhline(start, color="gray", lw=1, label="float model they start from")
        ax.set_xlabel(label)
        ax.set_ylabel("test top-1 (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    title = "Fashion-MNIST, small CNN: mean [min, max] over seeds; labels: targets"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--subset", type=int, default=6000, help="training images")
    parser.add_argument("--test-subset", type=int, default=2000, help="test images")
    parser.add_argument("--float-epochs", type=int, default=2)
    parser.add_argument("--learn-epochs", type=int, default=3)
    parser.add_argument("--finetune-epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--finetune-lr", type=float, default=0.0005)
    parser.add_argument("--bits-lr", type=float, default=0.1, help="bitlength learning rate")
    parser.add_argument("--bits-targets", type=float, nargs="*", default=[3.0, 4.0])
    parser.add_argument("--terms-targets", type=float, nargs="*", default=[1.0, 1.5])
    parser.add_argument("--sample", type=float, default=0.25, help="simulated tile fraction")
    parser.add_argument("--inference-images", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--name", default="terms_vs_bits")
    parser.add_argument("--table", type=Path, default=None, help="print a results table, exit")
    parser.add_argument("--plot", type=Path, default=None, help="plot a results JSON and exit")
    parser.add_argument(
        "--plot-out", type=Path, default=REPO / "docs" / "img" / "terms_vs_bits.png"
    )
    args = parser.parse_args()
    if args.table is not None:
        print(markdown_table(args.table))
        return
    if args.plot is not None:
        print(f"wrote {plot(args.plot, args.plot_out)}")
        return
    torch.set_num_threads(args.threads)
    command = "python benchmarks/terms_vs_bits.py " + " ".join(sys.argv[1:])
    per_seed: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="thrifty-terms-") as tmp:
        for seed in args.seeds:
            per_seed.append(run_seed(args, seed, Path(tmp)))
            path = write_result(  # after every seed: an interrupted run keeps what it measured
                args.name,
                {
                    "command": command,
                    "seeds_done": args.seeds[: len(per_seed)],
                    "summary": aggregate(per_seed),
                    "per_seed": per_seed,
                },
                config={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                seed=args.seeds[0],
            )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

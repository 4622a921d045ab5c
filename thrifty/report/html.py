"""The self-contained HTML page of a quickstart report, generated from `report.json`.

`write_html_report(report, path)` validates the report dict, draws its figures as PNGs
embedded in the page (base64 data URIs), builds every table from the JSON values through
`thrifty.report.number_format`, and writes the file atomically. The page loads nothing else
(a Content-Security-Policy forbids it) and runs no script: it opens offline, in any browser,
and can be mailed as one file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thrifty._io import write_text_atomic
from thrifty.report import quickstart_plots as plots
from thrifty.report.html_page import (
    CONTENT_SECURITY_POLICY,
    STYLE_SHEET,
    Markup,
    element,
    png_image,
    table,
)
from thrifty.report.number_format import (
    MISSING,
    format_bits,
    format_count,
    format_number,
    format_percent,
    format_plain,
    format_ratio,
    format_seconds,
)
from thrifty.report.schema import (
    BASELINE_LABELS,
    BOUND_POLICIES,
    VARIANT_LABELS,
    Claim,
    Comparison,
    EnergySplit,
    InferenceLayer,
    QuickstartReport,
    VariantResult,
    load_report,
)

PAGE_TITLE = "thrifty quickstart report"


def _figure(png: bytes | None, alt: str, caption: str) -> Markup | None:
    if png is None:
        return None
    return element("figure", png_image(png, alt), element("figcaption", caption))


def _policy_header(policy: str) -> str:
    return f"{policy} (bound)" if policy in BOUND_POLICIES else policy


def _fact(label: str, value: str) -> Markup:
    return element(
        "div",
        element("span", label, class_="label"),
        element("span", value, class_="value"),
        class_="fact",
    )


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _header(report: QuickstartReport) -> Markup:
    data = report.dataset
    dataset = data.name + (" (fallback)" if data.fell_back else "")
    lead = (
        f"Every ratio compares a term-serial accelerator with {report.hardware.baseline} "
        "of equal compute area; above 1× the term-serial accelerator is better."
    )
    facts = element(
        "div",
        _fact("data set", dataset),
        _fact("model", report.model),
        _fact(
            "PE area ratio (term-serial : bit-parallel)", format_ratio(report.hardware.area_ratio)
        ),
        _fact("run time", format_seconds(report.seconds)),
        class_="facts",
    )
    note = None
    if data.fell_back:
        note = element(
            "p",
            f"Fashion-MNIST was not available ({data.reason}); the bundled "
            "scikit-learn digits were used instead.",
            class_="note",
        )
    mode = element("p", "Fast mode (--fast): short budgets, indicative numbers.", class_="note")
    return element(
        "header",
        element("h1", PAGE_TITLE),
        element("p", lead, class_="lead"),
        facts,
        note,
        mode if report.fast else None,
    )


def _claims_section(claims: list[Claim]) -> Markup:
    cards = []
    for claim in claims:
        state = "held" if claim.held else "not-held"
        numbers = table(
            ["measured number", "value"],
            [[key, format_number(value, 4)] for key, value in claim.numbers.items()],
        )
        cards.append(
            element(
                "div",
                element(
                    "h3",
                    element("span", "HELD" if claim.held else "NOT HELD", class_="badge"),
                    f"Claim {claim.number}"
                    + (f" ({claim.baseline})" if claim.baseline else "")
                    + f": {claim.title}",
                ),
                element("p", claim.sentence),
                element("p", "Criterion: " + claim.criterion, class_="criterion"),
                element("details", element("summary", "numbers behind it"), numbers)
                if claim.numbers
                else None,
                class_=f"claim {state}",
            )
        )
    if not cards:
        cards.append(element("p", "No claims were judged in this report."))
    return element("section", element("h2", "The three claims"), cards, id="claims")


def _variants_section(report: QuickstartReport) -> Markup:
    rows = []
    for v in report.variants:
        sparsity = _mean([r.weight_sparsity for r in v.layers])
        rows.append(
            [
                v.label,
                format_percent(v.accuracy),
                format_bits(_mean([r.weight_bits for r in v.layers])),
                format_bits(_mean([r.activation_bits for r in v.layers])),
                format_bits(_mean([r.gradient_bits for r in v.layers])),
                format_percent(sparsity),
                format_ratio(v.total.speedup[report.hardware.sync_policies[0]]),
                format_seconds(v.train_seconds),
            ]
        )
    first = report.hardware.sync_policies[0]
    header = [
        "variant",
        "test accuracy",
        "mean weight bits",
        "mean activation bits",
        "mean gradient bits",
        "mean weight sparsity",
        f"whole-step speedup ({first})",
        "training time",
    ]
    return element(
        "section",
        element("h2", "Variants"),
        table(header, rows),
        element(
            "p",
            "Bits are per-layer means: integer bits for learned integer bitlengths, "
            "significand fraction bits (bfloat16 has 7) for per-layer float precision.",
            class_="note",
        ),
        id="variants",
    )


def _ops_table(report: QuickstartReport, metric: str) -> Markup:
    policies = report.hardware.sync_policies
    rows = []
    for v in report.variants:
        for op in [*v.ops, v.total]:
            values = getattr(op, metric)
            rows.append(
                [v.label, plots.OP_LABELS[op.op], format_count(op.macs)]
                + [format_ratio(values[p]) for p in policies]
            )
    return table(["variant", "operation", "MACs"] + [_policy_header(p) for p in policies], rows)


def _performance_section(report: QuickstartReport) -> Markup:
    return element(
        "section",
        element("h2", "Speedup and energy efficiency at iso-area"),
        _figure(
            plots.speedup_figure(report),
            "speedup per variant, training operation and sync policy",
            "Speedup over bit-parallel bfloat16 units of equal area, per training operation; "
            "one panel per synchronisation policy.",
        ),
        element("details", element("summary", "speedup table"), _ops_table(report, "speedup")),
        _figure(
            plots.energy_figure(report),
            "energy efficiency per variant, training operation and sync policy",
            "Energy efficiency (baseline energy / term-serial energy) at equal area.",
        ),
        element(
            "details",
            element("summary", "energy efficiency table"),
            _ops_table(report, "energy_efficiency"),
        ),
        id="performance",
    )


def _energy(split: EnergySplit) -> str:
    return " / ".join(format_number(v, 3) for v in (split.compute_uj, split.sram_uj, split.dram_uj))


def _comparison_rows(
    comparisons: list[Comparison], policies: list[str], lead: list[str]
) -> list[list[str]]:
    return [
        [*lead, c.name]
        + [format_ratio(c.speedup.get(p)) for p in policies]
        + [
            format_ratio(c.energy_efficiency_compute),
            format_ratio(c.energy_efficiency_compute_sram),
            format_ratio(c.energy_efficiency_total),
            _energy(c.term_serial_energy),
            _energy(c.baseline_energy),
        ]
        for c in comparisons
    ]


def _baselines_section(report: QuickstartReport) -> Markup | None:
    policies = report.hardware.sync_policies
    rows = [
        row for v in report.variants for row in _comparison_rows(v.comparisons, policies, [v.label])
    ]
    if not rows:
        return None
    areas = [
        [BASELINE_LABELS[a.baseline], format_number(a.ratio, 3),
         format_number(a.hand_count_ratio, 3), f"{a.term_serial_tiles} / {a.baseline_tiles}",
         a.source]
        for a in report.hardware.areas
    ]  # fmt: skip
    header = (
        ["variant", "comparison"]
        + [f"speedup {_policy_header(p)}" for p in policies]
        + ["energy eff. compute", "compute + SRAM", "total",
           "term-serial µJ (compute / SRAM / DRAM)", "baseline µJ (compute / SRAM / DRAM)"]
    )  # fmt: skip
    return element(
        "section",
        element("h2", "Against both baselines"),
        element(
            "p",
            "Two bit-parallel baselines, each at its own iso-area ratio: bfloat16 dot-product "
            "PEs of the same lanes and accumulator, and per-lane bfloat16 FMA units (one "
            "multiply + float32 add per cycle each). Energy is split into compute (the PEs, "
            "leakage included), on-chip SRAM and off-chip DRAM; '+codec' means that design's "
            "off-chip traffic is delta-encoded.",
            class_="note",
        ),
        table(
            [
                "baseline",
                "area ratio",
                "hand-count ratio",
                "tiles (term-serial / baseline)",
                "where the ratio came from",
            ],
            areas,
            numeric=False,
        ),
        table(header, rows),
        id="baselines",
    )


def _windows_section(report: QuickstartReport) -> Markup | None:
    if not report.windows:
        return None
    policies = report.hardware.sync_policies
    cost_rows, rows = [], []
    for w in report.windows:
        c = w.numeric_cost
        share = w.terms.out_of_bounds / w.terms.total if w.terms.total else None
        cost_rows.append(
            [f"{w.window} ({w.window_bits} bits)", format_count(c.outputs),
             format_percent(share),
             " / ".join(format_number(a.ratio, 3) for a in w.areas),
             f"{format_number(c.term_error_mean)} / {format_number(c.term_error_max)}",
             f"{format_number(c.baseline_error_mean)} / {format_number(c.baseline_error_max)}",
             f"{format_number(c.fma_error_mean)} / {format_number(c.fma_error_max)}"]
        )  # fmt: skip
        rows += _comparison_rows(w.comparisons, policies, [w.window])
    header = (
        ["window", "comparison"]
        + [f"speedup {_policy_header(p)}" for p in policies]
        + ["energy eff. compute", "compute + SRAM", "total",
           "term-serial µJ (compute / SRAM / DRAM)", "baseline µJ (compute / SRAM / DRAM)"]
    )  # fmt: skip
    sweep = [
        [w.window, format_ratio(point.area_ratio)]
        + [format_ratio(point.speedup.get(p)) for p in plots.sweep_policies(report)]
        for w in report.windows
        for point in sorted(w.iso_area_sweep, key=lambda p: p.area_ratio)
    ]
    return element(
        "section",
        element("h2", "Out-of-bounds window"),
        element(
            "p",
            "The float32 reference simulated with each window of the term-serial PE: relative "
            "to the accumulator (accumulator + guard bits below a top that includes it), or "
            "relative to the step's largest product (narrower: it skips more terms and shrinks "
            "the adder tree, at a numeric cost). The numeric cost is the error against a "
            "float64 dot product of the same bfloat16 operands, in units of the sum of the "
            "products' magnitudes, over sampled reductions (mean / max), of the term-serial PE, "
            "of a dot product of exact products with one float32 rounding per step (the best "
            "a dot-product PE can do; the synthesized one truncates to the window too), and "
            "of a per-lane FMA unit (one rounding per MAC).",
            class_="note",
        ),
        table(
            [
                "window",
                "reductions",
                "out-of-bounds terms",
                "area ratio (dot-product / per-lane FMA)",
                "term-serial error",
                "exact dot-product error",
                "per-lane FMA error",
            ],
            cost_rows,
        ),
        table(header, rows),
        element(
            "details",
            element("summary", "iso-area sweep per window"),
            table(
                ["window", "area ratio"]
                + [_policy_header(p) for p in plots.sweep_policies(report)],
                sweep,
            ),
        ),
        id="windows",
    )


def _terms_section(report: QuickstartReport) -> Markup:
    rows = []
    for v in report.variants:
        for op in [*v.ops, v.total]:
            t = op.terms
            share = lambda n, total=t.total: n / total if total else None  # noqa: E731
            rows.append(
                [
                    v.label,
                    plots.OP_LABELS[op.op],
                    format_count(t.total),
                    format_percent(share(t.zero)),
                    format_percent(share(t.out_of_bounds)),
                    format_percent(share(t.processed)),
                ]
            )
    header = ["variant", "operation", "terms", "zero", "out-of-bounds", "processed"]
    return element(
        "section",
        element("h2", "Where the terms go"),
        _figure(
            plots.terms_figure(report),
            "term breakdown per variant and operation",
            "Share of the serial operand's terms that are zero (skipped), out of the "
            "accumulator's bounds (skipped) or processed (one cycle each).",
        ),
        element("details", element("summary", "term table"), table(header, rows)),
        id="terms",
    )


def _sweep_section(report: QuickstartReport) -> Markup | None:
    figure = plots.sweep_figure(report)
    if figure is None:
        return None
    policies = plots.sweep_policies(report)
    rows = [
        [v.label, format_ratio(point.area_ratio)]
        + [format_ratio(point.speedup.get(p)) for p in policies]
        for v in report.variants
        for point in sorted(v.iso_area_sweep, key=lambda p: p.area_ratio)
    ]
    header = ["variant", "area ratio"] + [_policy_header(p) for p in policies]
    return element(
        "section",
        element("h2", "Iso-area sweep"),
        _figure(
            figure,
            "whole-step speedup against area ratio",
            "Whole-step speedup as more term-serial PEs fit in the area of one bit-parallel "
            "PE; the dashed line marks the ratio used above.",
        ),
        element("details", element("summary", "sweep table"), table(header, rows)),
        id="sweep",
    )


def _bits_cell(variant: VariantResult, layer: str) -> str:
    row = next((r for r in variant.layers if r.layer == layer), None)
    if row is None or variant.bits_kind == "none":
        if row is not None and row.weight_sparsity is not None:
            return "sparsity " + format_percent(row.weight_sparsity)
        return MISSING
    parts = [
        f"{name} {format_bits(value)}"
        for name, value in (
            ("w", row.weight_bits),
            ("a", row.activation_bits),
            ("g", row.gradient_bits),
        )
        if value is not None
    ]
    return " · ".join(parts) or MISSING


def _bits_section(report: QuickstartReport) -> Markup:
    layers: list[str] = []
    for v in report.variants:
        layers += [r.layer for r in v.layers if r.layer not in layers]
    rows = [[layer] + [_bits_cell(v, layer) for v in report.variants] for layer in layers]
    return element(
        "section",
        element("h2", "Precision per layer"),
        _figure(
            plots.bits_figure(report),
            "learned bits per layer",
            "Learned bitlength of each layer's weights (w), input activations (a) and output "
            "gradients (g).",
        ),
        table(["layer"] + [v.label for v in report.variants], rows),
        id="bits",
    )


def _codec_section(report: QuickstartReport) -> Markup | None:
    figure = plots.codec_figure(report)
    if figure is None:
        return None
    classes = plots.codec_classes(report)
    rows = []
    for v in report.variants:
        by_class = {c.tensor_class: c.bits_per_value for c in v.codec}
        rows.append([v.label] + [format_bits(by_class.get(c)) for c in classes])
    return element(
        "section",
        element("h2", "Off-chip codec"),
        _figure(
            figure,
            "codec bits per value",
            "Bits per value after the lossless off-chip codec (16 for raw bfloat16).",
        ),
        table(["variant"] + [f"{c} (bits/value)" for c in classes], rows),
        id="codec",
    )


_INFERENCE_DESIGNS = {"term_serial": "term-serial (Bit-Pragmatic)",
                      "bit_serial": "bit-serial (Stripes)",
                      "bit_parallel": "bit-parallel (DaDianNao)"}  # fmt: skip


def _inference_section(report: QuickstartReport) -> Markup | None:
    result = report.inference
    if result is None:
        return None
    label = VARIANT_LABELS[result.variant]
    bits = result.uniform_bits
    lead = element(
        "p",
        f"The {label} model, frozen, run as integers on {format_count(result.images)} test "
        "images on three integer accelerators of the same PEs and tiles (no iso-area scaling): "
        "term-serial activations, bit-serial activations, bit-parallel. Cycles at the learned "
        f"bitlengths and with every tensor re-quantized at {bits} bits; term-serial cycles at "
        f"the {result.sync_policy} sync policy; energy is compute plus on-chip buffer reads. "
        f"The integer pass agrees with the model's own forward on "
        f"{format_percent(result.top1_agreement)} of top-1 predictions (largest logit "
        f"difference {format_number(result.logits_max_abs_error)}).",
    )
    per = {(d.design, d.precision): d for d in result.designs}
    rows = []
    for design, name in _INFERENCE_DESIGNS.items():
        learned, uniform = per.get((design, "learned")), per.get((design, "uniform"))
        if learned is None or uniform is None:
            continue
        rows.append([
            name, format_count(round(learned.cycles)), format_count(round(uniform.cycles)),
            format_number(learned.energy_pj / 1000.0), format_number(uniform.energy_pj / 1000.0),
        ])  # fmt: skip
    per_inference = table(
        ["design", "cycles learned", f"cycles {bits}-bit", "energy learned (nJ)",
         f"energy {bits}-bit (nJ)"],
        rows,
        caption="Per inference (one image).",
    )  # fmt: skip
    layer_rows = [
        [
            layer.layer if layer.precision == "learned" else "",
            "learned" if layer.precision == "learned" else f"{bits}-bit",
            format_bits(layer.activation_bits),
            format_bits(layer.weight_bits),
            format_count(round(layer.term_serial_cycles)),
            format_count(round(layer.bit_serial_cycles)),
            format_count(round(layer.bit_parallel_cycles)),
        ]
        for layer in _by_layer(result.layers)
    ]
    per_layer = table(
        ["layer", "bits", "activation bits", "weight bits", "term-serial", "bit-serial",
         "bit-parallel"],
        layer_rows,
        caption=f"Cycles per layer for the {format_count(result.images)} images.",
    )  # fmt: skip
    return element(
        "section", element("h2", "Integer inference"), lead, per_inference, per_layer,
        id="inference",
    )  # fmt: skip


def _by_layer(layers: list[InferenceLayer]) -> list[InferenceLayer]:
    """Each layer's learned row, then its uniform row, in network order."""
    names = list(dict.fromkeys(layer.layer for layer in layers))
    order = {"learned": 0, "uniform": 1}
    return sorted(layers, key=lambda x: (names.index(x.layer), order[x.precision]))


def _provenance_section(report: QuickstartReport) -> Markup:
    prov = report.provenance
    machine = prov.get("machine") or {}
    facts = [
        ["thrifty version", format_plain(prov.get("thrifty_version"))],
        ["created (UTC)", format_plain(prov.get("created_utc"))],
        ["seed", format_plain(prov.get("seed"))],
    ]
    facts += [[f"machine: {key}", format_plain(value)] for key, value in machine.items()]
    data = report.dataset
    facts += [
        ["data set", data.name],
        ["training examples", format_count(data.train_examples)],
        ["test examples", format_count(data.test_examples)],
        ["hardware preset", report.hardware.preset or MISSING],
    ]
    config = json.dumps(prov.get("config"), indent=2, sort_keys=True, default=str)
    hardware = json.dumps(report.hardware.config.model_dump(mode="json"), indent=2)
    training = [
        element(
            "details",
            element("summary", f"training config: {variant.label}"),
            element("pre", json.dumps(variant.train_config.model_dump(mode="json"), indent=2)),
        )
        for variant in report.variants
    ]
    return element(
        "section",
        element("h2", "Provenance"),
        table(["item", "value"], facts, numeric=False),
        element("details", element("summary", "configuration"), element("pre", config)),
        element("details", element("summary", "hardware config"), element("pre", hardware)),
        training,
        id="provenance",
    )


def render_html_report(report: QuickstartReport | Mapping[str, Any]) -> str:
    """The complete HTML page of `report` (a record or a `report.json` dict)."""
    if not isinstance(report, QuickstartReport):
        report = load_report(report)
    claims = report.claims
    head = element(
        "head",
        Markup('<meta charset="utf-8">'),
        Markup(f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'),
        Markup('<meta name="viewport" content="width=device-width, initial-scale=1">'),
        element("title", PAGE_TITLE),
        element("style", Markup(STYLE_SHEET)),
    )
    body = element(
        "body",
        element(
            "main",
            _header(report),
            _claims_section(claims),
            _variants_section(report),
            _performance_section(report),
            _baselines_section(report),
            _windows_section(report),
            _terms_section(report),
            _sweep_section(report),
            _bits_section(report),
            _codec_section(report),
            _inference_section(report),
            _provenance_section(report),
        ),
    )
    return "<!DOCTYPE html>\n" + element("html", head, body, lang="en") + "\n"


def write_html_report(report: QuickstartReport | Mapping[str, Any], path: str | Path) -> Path:
    """Render `report` and write it to `path` atomically; return the path."""
    path = Path(path)
    write_text_atomic(path, render_html_report(report))
    return path


__all__ = ["render_html_report", "write_html_report"]

"""The one hardware config of the simulator: PE, tile, dataflow, memory, energy, area, sampling.

`HardwareConfig` is passed explicitly to pure functions; a preset is one YAML file of it
(`thrifty/hw/presets/<name>.yaml`, see `load_hardware_config`). Every constant is a named,
documented field; energies cite Horowitz (ISSCC 2014, 45 nm, 0.9 V) where a figure exists there,
and areas are built from standard-cell areas of the Nangate 45 nm Open Cell Library (X1 cells).
Figures marked "assumption" are ours: replace them with your own library's numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from thrifty._config import FrozenConfig, load_yaml_config
from thrifty.errors import ConfigError
from thrifty.hw.codec import CodecConfig
from thrifty.hw.pe.config import PEConfig

HARDWARE_SCHEMA_VERSION = 1
PRESETS_DIR = Path(__file__).resolve().parent / "presets"

SyncPolicy = Literal["tile", "row", "ideal"]
SYNC_POLICIES: tuple[str, ...] = ("tile", "row", "ideal")
Baseline = Literal["dot_product", "per_lane_fma"]
#: The bit-parallel baselines: a fused dot-product PE, and `lanes` conventional FMA units.
BASELINES: tuple[str, ...] = ("dot_product", "per_lane_fma")


class TileConfig(FrozenConfig):
    """Tiles of R × C PEs: a row shares the serial (A) stream, a column the parallel (B) one."""

    rows: int = Field(8, ge=1, description="PE rows per tile, R (PEs).")
    cols: int = Field(8, ge=1, description="PE columns per tile, C (PEs).")
    tiles: int = Field(
        4, ge=1, description="Tiles, T, of the bit-parallel baseline accelerator (tiles)."
    )
    row_buffer_depth: int = Field(
        4,
        ge=1,
        description="Run-ahead buffer depth D of the `row` sync policy (steps): a row may start "
        "step s once every row of its tile has finished step s − D. D = 1 is lockstep.",
    )


class DataflowConfig(FrozenConfig):
    """Which operand of each training operation is streamed term-serially (the A operand)."""

    forward: Literal["activation", "weight", "oracle"] = Field(
        "activation", description="Serial operand of the forward pass, or 'oracle'."
    )
    backward_data: Literal["grad_output", "weight", "oracle"] = Field(
        "grad_output", description="Serial operand of the input-gradient pass, or 'oracle'."
    )
    backward_weight: Literal["grad_output", "activation", "oracle"] = Field(
        "grad_output", description="Serial operand of the weight-gradient pass, or 'oracle'."
    )


class MemoryConfig(FrozenConfig):
    """Clock, off-chip bandwidth and the off-chip value format (roofline per layer)."""

    clock_ghz: float = Field(1.0, gt=0, description="Accelerator clock (GHz).")
    dram_bandwidth_gb_s: float = Field(
        64.0,
        gt=0,
        description="Off-chip bandwidth (GB/s); 64 GB/s ≈ two DDR4-4000 channels (assumption).",
    )
    value_bits: int = Field(
        16, ge=1, description="Bits per value on chip and, uncompressed, off chip (bits; bf16)."
    )
    use_codec: bool = Field(
        False,
        description="Charge off-chip traffic at the codec's encoded size (thrifty.hw.codec); "
        "the uncompressed traffic is reported beside it either way.",
    )
    codec: CodecConfig = Field(default_factory=CodecConfig, description="Codec settings.")


class EnergyConfig(FrozenConfig):
    """Energy per event (pJ). Sources: Horowitz, 'Computing's energy problem', ISSCC 2014 (45 nm).

    A term-serial lane spends `shifter_pj + adder_tree_input_pj` per effectual term it
    processes and `idle_lane_pj` per cycle it has nothing to add; a dot-product baseline lane
    spends `multiplier_pj + shifter_pj + adder_tree_input_pj` per step. Both spend
    `exponent_lane_pj` per lane and `accumulator_pj` per step. A per-lane FMA baseline lane
    spends `fma_multiply_pj + fma_add_pj` per step and `fma_add_pj` per lane sum at the end.

    Integer inference (`thrifty.hw.simulate_inference`) reuses `multiplier_pj` (an 8 × 8-bit
    integer multiply), `shifter_pj` and `idle_lane_pj`, and adds `int_adder_tree_input_pj` and
    `int_accumulator_pj` (docs/simulator.md, "Inference").
    """

    multiplier_pj: float = Field(
        0.2, ge=0, description="8×8-bit significand multiply (pJ; Horowitz: 8-bit int mult 0.2)."
    )
    shifter_pj: float = Field(
        0.03,
        ge=0,
        description="Align one significand or product (pJ; assumption: ≈ an 8-bit add, 0.03).",
    )
    adder_tree_input_pj: float = Field(
        0.1, ge=0, description="Add one aligned value into the adder tree (pJ; 32-bit add 0.1)."
    )
    idle_lane_pj: float = Field(
        0.01,
        ge=0,
        description="Clock-gated lane, per cycle (pJ; assumption: 10% of an adder-tree input).",
    )
    exponent_lane_pj: float = Field(
        0.06,
        ge=0,
        description="Exponent sum and alignment difference of one lane per step (pJ; two "
        "8-bit adds, 2 × 0.03).",
    )
    accumulator_pj: float = Field(
        0.9, ge=0, description="Accumulator update per step (pJ; 32-bit float add 0.9)."
    )
    sram_bit_pj: float = Field(
        0.3125,
        ge=0,
        description="On-chip buffer access per bit (pJ; 32 KB SRAM, 64-bit read 20 pJ / 64).",
    )
    dram_bit_pj: float = Field(
        20.3,
        ge=0,
        description="Off-chip access per bit (pJ; DRAM 1.3–2.6 nJ per 64 bits: 1300 / 64).",
    )
    fma_multiply_pj: float = Field(
        1.1,
        ge=0,
        description="Per-lane FMA baseline: one bfloat16 × bfloat16 multiply with its exponent "
        "add, per MAC (pJ; Horowitz: 16-bit float multiply 1.1 — an upper bound for bfloat16's "
        "8-bit significand).",
    )
    fma_add_pj: float = Field(
        0.9,
        ge=0,
        description="Per-lane FMA baseline: one float32 add of a product into the lane's "
        "accumulator, with its rounding, per MAC and per final lane-sum add (pJ; Horowitz: "
        "32-bit float add 0.9).",
    )
    int_adder_tree_input_pj: float = Field(
        0.05,
        ge=0,
        description="Add one integer lane product (or shifted weight) into the adder tree (pJ; "
        "assumption: a 16-bit add, between Horowitz's 8-bit 0.03 and 32-bit 0.1).",
    )
    int_accumulator_pj: float = Field(
        0.1,
        ge=0,
        description="Integer accumulator update, once per PE cycle of the serial designs and "
        "once per step of the bit-parallel one (pJ; Horowitz: 32-bit integer add 0.1).",
    )
    leakage_pj_per_kge_cycle: float = Field(
        0.02,
        ge=0,
        description="Leakage per 1000 gate equivalents per cycle at 1 GHz (pJ; assumption: "
        "~20 nW per NAND2-equivalent cell, order of magnitude for 45 nm).",
    )


class AreaConfig(FrozenConfig):
    """Where the PE areas come from: a synthesis table, or the hand-count cross-check.

    By default the areas are the synthesized ones thrifty ships (`thrifty.hw.cost.synthesis`);
    `synthesis_file` names a table of your own (`thrifty hw synth --out DIR` writes one). The
    hand count (`thrifty.hw.cost.area`) builds each PE from Nangate 45 nm Open Cell Library X1
    cell areas (µm²): NAND2 0.798, AND2 1.064, XOR2 1.596, MUX2 1.862, FA 4.256, DFF 4.522, in
    NAND2 gate equivalents (GE); it is reported beside the synthesized ratio as a cross-check and
    used when the table has no record for the PE config (docs/simulator.md lists every
    component).
    """

    model: Literal["synthesis", "hand_count"] = Field(
        "synthesis",
        description="Source of the iso-area ratio: the synthesis table (falling back to the hand "
        "count, with a note, for a PE config it does not cover), or the hand count only.",
    )
    synthesis_file: Path | None = Field(
        None,
        description="A synthesis table (JSON, as written by `thrifty hw synth`) used instead of "
        "the one thrifty ships; None: the shipped table.",
    )

    nand2_um2: float = Field(0.798, gt=0, description="NAND2_X1 area (µm²), one GE.")
    and2_um2: float = Field(1.064, gt=0, description="AND2_X1 area (µm²).")
    xor2_um2: float = Field(1.596, gt=0, description="XOR2_X1 area (µm²).")
    mux2_um2: float = Field(1.862, gt=0, description="MUX2_X1 area (µm²).")
    full_adder_um2: float = Field(4.256, gt=0, description="FA_X1 area (µm²).")
    flip_flop_um2: float = Field(4.522, gt=0, description="DFF_X1 area (µm²).")
    significand_bits: int = Field(8, ge=1, description="bf16 significand incl. hidden (bits).")
    exponent_bits: int = Field(8, ge=1, description="bf16 exponent (bits).")
    term_positions: int = Field(
        9, ge=1, description="Term positions of the serial encoding (NAF: 0..8)."
    )
    encoder_cells_per_position: float = Field(
        3.0,
        ge=0,
        description="Cells (GE) per term position of the NAF recoder and term selector, one "
        "per lane of each tile row, shared by the row's C PEs (assumption).",
    )
    iso_area: bool = Field(
        True,
        description="Compare at iso compute area: against each baseline, the term-serial "
        "accelerator gets floor(ratio × T) tiles for the baseline's T, ratio from the areas.",
    )
    ratio_override: float | None = Field(
        None,
        gt=0,
        description="Use this ratio (term-serial PEs per baseline PE) against the headline "
        "baseline instead of the measured one; the other baseline keeps its measured ratio.",
    )
    sweep: tuple[float, ...] = Field(
        (1.0, 1.25, 1.5, 2.0, 3.0, 4.0),
        description="Area ratios (term-serial PEs per bit-parallel PE) of the iso-area sweep.",
    )


class SamplingConfig(FrozenConfig):
    """Sampling of output tiles and the memory bound of one chunk."""

    fraction: float = Field(
        1.0, gt=0, le=1, description="Fraction of output tiles simulated (1 = all)."
    )
    seed: int = Field(0, description="Seed of the output-tile sample.")
    confidence: float = Field(0.95, gt=0, lt=1, description="Confidence of reported intervals.")
    chunk_mib: float = Field(
        64.0,
        gt=0,
        description="Output values (two float32 per output) held at once per chunk of "
        "output-tile rows (MiB); per-step cycles are folded into per-tile costs as they are made",
    )


class InferenceConfig(FrozenConfig):
    """Integer inference of a frozen learned-bitlength model (`thrifty.hw.simulate_inference`).

    The integer accelerators this stands for are the research group's own: Bit-Pragmatic
    (term-serial activations), Stripes (bit-serial activations) and DaDianNao (bit-parallel),
    as modelled by their simulator DNNsim. Activations are the serial operand, weights the
    parallel one; lanes, term encoding (`pe.encoding`), `pe.min_cycles` and the tiles with their
    sync policies (`tile`) are shared with the training simulator. docs/simulator.md
    ("Inference") compares each choice with that reference.
    """

    reduction_padding: Literal["kernel_position", "end"] = Field(
        "kernel_position",
        description="How a reduction is cut into steps of `pe.lanes` values: 'kernel_position' "
        "pads each kernel position's input channels to a multiple of the lanes (as arrays "
        "fetch one kernel position's channel brick at a time, and as DNNsim does), 'end' pads "
        "only the end of the flattened reduction (fewer steps, no array does it).",
    )
    skip_zero_weights: bool = Field(
        False,
        description="Lanes whose weight is zero are idle (their activation's terms cost "
        "nothing). Off by default: only a weight-scheduling design (BitTactical-style) can "
        "exploit it; Pragmatic and Stripes process every lane's activation.",
    )
    uniform_bits: int = Field(
        8,
        ge=2,
        le=16,
        description="Bitlength of the comparison point: the same model re-quantized with every "
        "weight and activation at this many bits (bits).",
    )


class HardwareConfig(FrozenConfig):
    """Everything the simulator assumes about the accelerator, in one validated object."""

    schema_version: Literal[1] = Field(HARDWARE_SCHEMA_VERSION, description="Config version.")
    name: str = Field("default", description="Name of the preset or design.")
    baseline: Baseline = Field(
        "dot_product",
        description="Headline bit-parallel baseline: 'dot_product' (a fused bfloat16 dot-product "
        "PE of the same lanes and accumulator) or 'per_lane_fma' (lanes conventional bfloat16 "
        "multiply + float32 add units, one MAC per cycle each). Reports compare against both.",
    )
    pe: PEConfig = Field(default_factory=PEConfig, description="Term-serial PE (docs/pe.md).")
    tile: TileConfig = Field(default_factory=TileConfig, description="Tiles and sync.")
    dataflow: DataflowConfig = Field(default_factory=DataflowConfig, description="Serial operand.")
    memory: MemoryConfig = Field(default_factory=MemoryConfig, description="Clock and DRAM.")
    energy: EnergyConfig = Field(default_factory=EnergyConfig, description="pJ per event.")
    area: AreaConfig = Field(default_factory=AreaConfig, description="Component areas.")
    sampling: SamplingConfig = Field(default_factory=SamplingConfig, description="Sampling.")
    inference: InferenceConfig = Field(
        default_factory=InferenceConfig, description="Integer inference (simulate_inference)."
    )


def preset_names() -> list[str]:
    """Names of the bundled presets (files in thrifty/hw/presets/)."""
    return sorted(path.stem for path in PRESETS_DIR.glob("*.yaml"))


def load_hardware_config(arch: str | Path = "default") -> HardwareConfig:
    """A bundled preset by name, or a YAML file by path; unknown keys are named in the error."""
    path = Path(arch)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_yaml_config(HardwareConfig, path)
    if str(arch) not in preset_names():
        raise ConfigError(
            f"unknown accelerator preset {str(arch)!r}; choose one of {preset_names()} or pass "
            "the path of a YAML file"
        )
    return load_yaml_config(HardwareConfig, PRESETS_DIR / f"{arch}.yaml")


__all__ = [
    "BASELINES",
    "SYNC_POLICIES",
    "AreaConfig",
    "Baseline",
    "DataflowConfig",
    "EnergyConfig",
    "HardwareConfig",
    "InferenceConfig",
    "MemoryConfig",
    "SamplingConfig",
    "TileConfig",
    "load_hardware_config",
    "preset_names",
]

"""Logic synthesis of the generated PE designs with Yosys, against a Liberty cell library.

`synthesize` returns the results in the format of the shipped `synthesized_area.json`;
`default_liberty` is the small library written from Nangate 45 nm Open Cell Library areas.
"""

from thrifty.hw.synth.designs import DESIGN_NAMES, DesignSpec, designs_for
from thrifty.hw.synth.synthesize import (
    RESULTS_FILE,
    default_liberty,
    preset_configs,
    synthesize,
    write_synthesis,
)
from thrifty.hw.synth.yosys import SynthesisFigures, yosys_version

__all__ = [
    "DESIGN_NAMES",
    "RESULTS_FILE",
    "DesignSpec",
    "SynthesisFigures",
    "default_liberty",
    "designs_for",
    "preset_configs",
    "synthesize",
    "write_synthesis",
    "yosys_version",
]

"""thrifty: learned minimal bitlengths, and term-serial bfloat16 accelerator simulation.

The public API of the quantization library is re-exported here; the simulator's lives in
`thrifty.hw`, trace capture in `thrifty.trace`.
"""

from thrifty._version import __version__
from thrifty.errors import (
    BitlengthsNotLearningWarning,
    CheckpointError,
    ConfigError,
    DataError,
    ExportError,
    NumericsError,
    QuantizationError,
    SimulationError,
    ThriftyError,
    TraceError,
)
from thrifty.quant import (
    BitlengthRegularizer,
    QuantConfig,
    TermsConfig,
    fold_batchnorm,
    freeze,
    load,
    param_groups,
    quantize,
    save,
    summary,
)

__all__ = [
    "BitlengthRegularizer",
    "BitlengthsNotLearningWarning",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "ExportError",
    "NumericsError",
    "QuantConfig",
    "QuantizationError",
    "SimulationError",
    "TermsConfig",
    "ThriftyError",
    "TraceError",
    "__version__",
    "fold_batchnorm",
    "freeze",
    "load",
    "param_groups",
    "quantize",
    "save",
    "summary",
]

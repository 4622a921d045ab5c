"""The exceptions thrifty raises for bad input.

Every message names the offending value, what was allowed, and how to fix it. Catch
`ThriftyError` to handle all of them; the subclasses also derive from the builtin a caller
would expect (`ValueError`, `OSError`), so generic handlers keep working.
"""

from __future__ import annotations


class ThriftyError(Exception):
    """Base class of every error thrifty raises on purpose."""


class ConfigError(ThriftyError, ValueError):
    """A configuration value is unknown, out of range or contradicts another one."""


class QuantizationError(ThriftyError, ValueError):
    """A model or tensor cannot be quantized as asked (no quantizable layer, NaN range, ...)."""


class NumericsError(ThriftyError, ValueError):
    """A tensor holds values a number format cannot represent under the chosen policy (NaN/Inf)."""


class DataError(ThriftyError, OSError):
    """A data set folder is missing or malformed."""


class TraceError(ThriftyError, OSError):
    """A trace store is missing, truncated, corrupted or of an unknown format version."""


class CheckpointError(ThriftyError, OSError):
    """A checkpoint or run folder is missing, incomplete or does not match the model."""


class SimulationError(ThriftyError, ValueError):
    """A layer or trace cannot be mapped onto the simulated accelerator."""


class TrainingError(ThriftyError, ArithmeticError):
    """Training cannot go on: the loss or the weights became NaN or infinite."""


class SynthesisError(ThriftyError, RuntimeError):
    """Logic synthesis cannot run or failed: Yosys missing, a malformed cell library, ..."""


class ExportError(ThriftyError, ValueError):
    """A model cannot be written in the asked export format (bits it cannot hold, a quantizer
    kind or layer it has no operator for, a model not frozen yet, ...)."""


class BitlengthsNotLearningWarning(UserWarning):
    """The bitlengths barely moved although a regularizer pulls them down: their learning rate
    (or λ) is too small for the optimizer in use."""

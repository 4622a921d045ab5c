"""Integer inference of a `thrifty train` run: its frozen model on images of its own test split."""

from __future__ import annotations

from pathlib import Path

from thrifty.hw.config import HardwareConfig
from thrifty.hw.sim.inference import InferenceSimulation, simulate_inference
from thrifty.train.run_model import DEFAULT_TEST_IMAGES, draw_test_images, load_run_model


def simulate_run_inference(
    run: str | Path,
    config: HardwareConfig | None = None,
    *,
    images: int = DEFAULT_TEST_IMAGES,
    seed: int = 0,
) -> InferenceSimulation:
    """`simulate_inference` on the final model of run folder `run` and `images` test images.

    The images are drawn from the run's test split without replacement by `seed` (recorded in
    the result). Raises CheckpointError for a folder that holds no finished quantized run,
    DataError for an image count the test split cannot give, SimulationError for a model with
    non-integer quantizers (e.g. float_mantissa).
    """
    loaded = load_run_model(run)
    inputs = draw_test_images(loaded.data, images, seed)
    return simulate_inference(loaded.model, inputs, config, seed=seed, source=str(run))


__all__ = ["simulate_run_inference"]

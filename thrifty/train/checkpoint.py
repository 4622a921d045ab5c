"""Resume checkpoints: written atomically, with every random state, loaded without pickled code.

A checkpoint holds the model, optimizer, schedule and regularizer states, the position in the
recipe (phase, epoch, step), the metrics so far and the RNG states of torch, numpy and Python,
so that a resumed run on the CPU ends bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from thrifty._io import atomic_path
from thrifty.errors import CheckpointError

#: Version of the checkpoint layout; a different one is refused with a clear error.
CHECKPOINT_VERSION = 1


def rng_state() -> dict[str, Any]:
    """The random states of torch (CPU and CUDA), numpy and Python, as plain tensors and ints."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write `payload` (plus the layout version) to `path` atomically: temp file, then rename."""
    with atomic_path(path) as tmp:
        torch.save({"checkpoint_version": CHECKPOINT_VERSION, **payload}, tmp)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {str(path)!r}; start the run without --resume or pass the run "
            "folder that holds checkpoint.pt"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read: {error}") from None
    version = payload.get("checkpoint_version") if isinstance(payload, dict) else None
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has layout version {version!r}; this thrifty reads "
            f"version {CHECKPOINT_VERSION}"
        )
    return payload

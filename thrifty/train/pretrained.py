"""A user's pretrained weights for a registered model: read a state-dict file, check its keys.

`thrifty train` builds the model named in `model.name`; with `model.pretrained` set it then
loads that file into it before any phase runs, so the recipe fine-tunes the user's weights.
The file is read with `weights_only=True` (no pickled code runs). Accepted: a plain
`state_dict()` (what `torch.save(model.state_dict(), path)` writes), or a mapping holding one
under `"model"` or `"state_dict"` (common training-script checkpoints). Errors name the file,
what is wrong (missing file, a pickled module, missing / unexpected keys, shapes that differ)
and the fix.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from thrifty.errors import CheckpointError

#: Keys under which training scripts commonly nest the model's state dict.
NESTED_KEYS = ("model", "state_dict")
#: How many offending keys an error message lists.
SHOWN_KEYS = 5


def _shown(keys: list[str]) -> str:
    more = f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
    return ", ".join(repr(k) for k in keys[:SHOWN_KEYS]) + more


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict stored in `path` (plain, or nested under 'model' / 'state_dict')."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"pretrained weights file {str(path)!r} does not exist; set model.pretrained to a "
            "file written by torch.save(model.state_dict(), path)"
        )
    try:
        data: Any = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
        raise CheckpointError(
            f"pretrained weights file {str(path)!r} cannot be read as a state dict ({error}); "
            "save the weights with torch.save(model.state_dict(), path), not the module itself"
        ) from None
    for key in NESTED_KEYS:
        if isinstance(data, Mapping) and isinstance(data.get(key), Mapping):
            data = data[key]
            break
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(
            f"pretrained weights file {str(path)!r} holds a {type(data).__name__}, not a "
            "state dict of tensors; save it with torch.save(model.state_dict(), path)"
        )
    return dict(data)


def load_pretrained(model: nn.Module, path: str | Path, model_name: str) -> None:
    """Load the weights of `path` into `model` (registered as `model_name`), all keys exactly.

    Raises CheckpointError when the file is missing or unreadable, when keys are missing or
    unexpected, or when a tensor's shape differs; the message lists the offending keys.
    """
    state = read_state_dict(path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_shown(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_shown(unexpected)}")
        raise CheckpointError(
            f"pretrained weights {str(path)!r} do not fit model {model_name!r}: "
            f"{'; '.join(parts)}; model {model_name!r} expects keys such as "
            f"{_shown(list(expected))}. Check model.name (and data, which sets the input "
            "channels, image size and classes), or rename the keys of your state dict"
        )
    shapes = [
        f"{k!r}: file {tuple(state[k].shape)}, model {tuple(v.shape)}"
        for k, v in expected.items()
        if tuple(state[k].shape) != tuple(v.shape)
    ]
    if shapes:
        raise CheckpointError(
            f"pretrained weights {str(path)!r} do not fit model {model_name!r}: shapes differ "
            f"for {'; '.join(shapes[:SHOWN_KEYS])}. Check model.name and the data (input "
            "channels, image size, number of classes)"
        )
    model.load_state_dict(state)

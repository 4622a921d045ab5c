"""Constants of the on-disk trace format, shared by the writer and the reader (docs/traces.md).

A store is a folder holding `manifest.json` and one safetensors file per captured tensor group.
The manifest is the index: an entry, a file, is part of the store once the manifest names it.
"""

from __future__ import annotations

import re

#: Value of the manifest's "format" key: tells a trace manifest from any other JSON file.
FORMAT_NAME: str = "thrifty-trace"

#: Version of the on-disk layout. Readers refuse a manifest with a larger version and read
#: every smaller one. 2 added entries of products of two activations (geometry kind "matmul");
#: a version-1 store is a version-2 store without them.
FORMAT_VERSION: int = 2

#: Name of the index file inside a store folder.
MANIFEST_NAME: str = "manifest.json"

#: Sub-folder name of rank r when every rank of a distributed run captures (ranks="all").
RANK_FOLDER: str = "rank{rank}"

#: Names of the tensors an entry may hold.
TENSOR_NAMES: tuple[str, ...] = ("activation", "weight", "grad_output")

#: The two operands of each operation, in the order they are multiplied (docs/design.md §5).
OP_TENSORS: dict[str, tuple[str, str]] = {
    "forward": ("activation", "weight"),
    "backward_data": ("grad_output", "weight"),
    "backward_weight": ("grad_output", "activation"),
}

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_stem(index: int, layer: str, part: str) -> str:
    """A unique file name: running index, the layer name made file-safe, and the part."""
    safe = _UNSAFE.sub("_", layer) or "model"
    return f"{index:06d}_{safe}_{part}.safetensors"

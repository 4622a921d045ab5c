"""Reading a trace store: `open_trace(folder)` → lazy iterable of `TraceEntry`.

The manifest is read and checked when the store is opened; tensors are read only when an
entry's `tensors[name]` is looked up, and each file is checked against the size and SHA-256
the manifest gives, so a truncated or corrupted file raises a `TraceError` naming it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as safetensors_load

from thrifty.errors import TraceError
from thrifty.trace.format import FORMAT_NAME, FORMAT_VERSION, MANIFEST_NAME
from thrifty.trace.geometry import dtype_name


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise TraceError(
            f"no trace store at {str(path.parent)!r}: {MANIFEST_NAME} is missing; pass the "
            "folder given to thrifty.trace.capture"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TraceError(
            f"trace manifest {str(path)!r} is unreadable or corrupted: {error}"
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise TraceError(
            f"{str(path)!r} is not a thrifty trace manifest (its 'format' is not {FORMAT_NAME!r})"
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise TraceError(
            f"trace manifest {str(path)!r} has format_version {version!r}; this thrifty reads "
            f"versions up to {FORMAT_VERSION}: upgrade thrifty"
        )
    for key in ("files", "entries"):
        if key not in manifest:
            raise TraceError(f"trace manifest {str(path)!r} lacks the key {key!r}: it is damaged")
    return manifest


def load_file(
    folder: Path, name: str, info: Mapping[str, Any], verify: bool
) -> dict[str, torch.Tensor]:
    """All tensors of one store file, after checking its size (and SHA-256 when `verify`)."""
    path = folder / name
    try:
        data = path.read_bytes()
    except OSError as error:
        raise TraceError(f"trace file {str(path)!r} cannot be read: {error}") from None
    if len(data) != info["bytes"]:
        raise TraceError(
            f"trace file {str(path)!r} is truncated or damaged: {len(data)} bytes, the manifest "
            f"says {info['bytes']}"
        )
    if verify and hashlib.sha256(data).hexdigest() != info["sha256"]:
        raise TraceError(
            f"trace file {str(path)!r} is corrupted: its SHA-256 differs from the manifest's"
        )
    try:
        return safetensors_load(data)
    except Exception as error:  # safetensors raises its own error types for bad headers
        raise TraceError(f"trace file {str(path)!r} is not valid safetensors: {error}") from None


class LazyTensors(Mapping[str, torch.Tensor]):
    """The tensors of one entry: names and shapes known at once, data read on first lookup."""

    def __init__(self, store: TraceStore, refs: Mapping[str, Mapping[str, Any]]) -> None:
        self._store = store
        self._refs = dict(refs)
        self._loaded: dict[str, torch.Tensor] = {}

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._loaded:
            if name not in self._refs:
                raise KeyError(
                    f"this entry holds {sorted(self._refs)}, not {name!r} (see OP_TENSORS)"
                )
            ref = self._refs[name]
            tensors = self._store.load_file(ref["file"])
            manifest = str(self._store.folder / MANIFEST_NAME)
            if ref["key"] not in tensors:
                raise TraceError(
                    f"trace manifest {manifest!r} names tensor {ref['key']!r} in "
                    f"{ref['file']!r}, which does not hold it: the manifest is damaged"
                )
            tensor = tensors[ref["key"]]
            if list(tensor.shape) != list(ref["shape"]) or dtype_name(tensor.dtype) != ref["dtype"]:
                raise TraceError(
                    f"trace manifest {manifest!r} says tensor {ref['key']!r} is "
                    f"{ref['dtype']}{list(ref['shape'])}, but {ref['file']!r} holds "
                    f"{dtype_name(tensor.dtype)}{list(tensor.shape)}: the manifest was edited or "
                    "damaged; capture the trace again"
                )
            self._loaded[name] = tensor
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def __repr__(self) -> str:
        items = ", ".join(f"{n}: {r['dtype']}{list(r['shape'])}" for n, r in self._refs.items())
        return f"LazyTensors({items})"

    def info(self, name: str) -> Mapping[str, Any]:
        """Manifest data of a tensor without reading it: file, key, dtype, shape."""
        return self._refs[name]


@dataclass(frozen=True)
class TraceEntry:
    """One recorded operation of one layer call: its context, geometry and operand tensors."""

    layer: str
    op: str
    epoch: int
    step: int
    call: int
    rank: int
    geometry: dict[str, Any]
    tensors: LazyTensors


class TraceStore:
    """One rank's store: the checked manifest, and entries built from it on iteration."""

    def __init__(self, folder: Path, verify: bool = True) -> None:
        self.folder = folder
        self.verify = verify
        self.manifest = _read_manifest(folder / MANIFEST_NAME)
        self.rank = int(self.manifest.get("rank", 0))

    def load_file(self, name: str) -> dict[str, torch.Tensor]:
        """Read and check one file listed in the manifest."""
        info = self.manifest["files"].get(name)
        if info is None:
            raise TraceError(
                f"trace manifest {str(self.folder / MANIFEST_NAME)!r} names no file {name!r}: "
                "the manifest is damaged"
            )
        return load_file(self.folder, name, info, self.verify)

    def __iter__(self) -> Iterator[TraceEntry]:
        for raw in self.manifest["entries"]:
            yield TraceEntry(
                layer=raw["layer"],
                op=raw["op"],
                epoch=raw["epoch"],
                step=raw["step"],
                call=raw.get("call", 0),
                rank=self.rank,
                geometry=raw["geometry"],
                tensors=LazyTensors(self, raw["tensors"]),
            )

    def __len__(self) -> int:
        return len(self.manifest["entries"])


class Trace:
    """A trace: one store, or the per-rank stores of a distributed capture, read lazily.

    Iterating yields `TraceEntry` objects in capture order (rank by rank). Use `select` to
    filter by layer, op, epoch or step without reading any tensor.
    """

    def __init__(self, stores: list[TraceStore]) -> None:
        self.stores = stores

    def __iter__(self) -> Iterator[TraceEntry]:
        for store in self.stores:
            yield from store

    def __len__(self) -> int:
        return sum(len(store) for store in self.stores)

    def __repr__(self) -> str:
        folders = [str(store.folder) for store in self.stores]
        return f"Trace({len(self)} entries in {folders})"

    def select(
        self,
        layer: str | None = None,
        op: str | None = None,
        epoch: int | None = None,
        step: int | None = None,
    ) -> Iterator[TraceEntry]:
        """Entries matching every given field (None matches anything)."""
        for entry in self:
            if (
                (layer is None or entry.layer == layer)
                and (op is None or entry.op == op)
                and (epoch is None or entry.epoch == epoch)
                and (step is None or entry.step == step)
            ):
                yield entry

    @property
    def stopped(self) -> list[str]:
        """Why capturing stopped early (budget, disk error), per store; empty if it did not."""
        return [store.manifest["stopped"] for store in self.stores if store.manifest.get("stopped")]


def open_trace(folder: str | Path, verify: bool = True) -> Trace:
    """Open the trace store in `folder` (or the rank0, rank1, ... stores below it).

    `verify=False` skips the SHA-256 check of each file (the size is still checked).
    Raises TraceError if there is no store, or the manifest is damaged or too new.
    """
    folder = Path(folder)
    if not (folder / MANIFEST_NAME).exists():
        ranks = sorted(
            (p for p in folder.glob("rank*") if (p / MANIFEST_NAME).is_file()),
            key=lambda p: int(p.name[4:]) if p.name[4:].isdigit() else 1 << 30,
        )
        if ranks:
            return Trace([TraceStore(p, verify) for p in ranks])
    return Trace([TraceStore(folder, verify)])

"""Writing a trace store: tensor files written atomically, then the manifest rewritten atomically.

Order of every update: (1) the safetensors file is written to a temporary name, fsynced and
renamed; (2) the manifest, which lists every file with its size and SHA-256 and every entry,
is rewritten the same way. A process killed at any moment therefore leaves a manifest that
names only complete files (at worst an unnamed file or a temporary file is left over, which
readers ignore). The byte budget is checked before each file: a file that would exceed it is
not written, capturing stops with a warning, and the training goes on. Disk errors do the same.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes

from thrifty._io import write_bytes_atomic, write_text_atomic
from thrifty._version import __version__
from thrifty.errors import TraceError
from thrifty.trace.config import TraceConfig
from thrifty.trace.format import FORMAT_NAME, FORMAT_VERSION, MANIFEST_NAME, file_stem


def _serialize(tensors: dict[str, torch.Tensor]) -> bytes:
    """safetensors bytes of CPU tensors (made contiguous; copies if they share storage)."""
    flat = {name: t.detach().contiguous() for name, t in tensors.items()}
    try:
        return safetensors_bytes(flat)
    except RuntimeError:  # tensors sharing one storage: safetensors refuses them
        return safetensors_bytes({name: t.clone() for name, t in flat.items()})


class TraceWriter:
    """Appends files and entries to a new store folder, keeping it readable at every moment."""

    def __init__(
        self, folder: str | Path, config: TraceConfig, rank: int = 0, world_size: int = 1
    ) -> None:
        self.folder = Path(folder)
        if (self.folder / MANIFEST_NAME).exists():
            raise TraceError(
                f"{str(self.folder)!r} already holds a trace store ({MANIFEST_NAME}); capture "
                "into a new folder, or delete the old store first"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = config.max_bytes
        self.bytes_written = 0
        self.stopped: str | None = None
        self._manifest: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "thrifty_version": __version__,
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "rank": rank,
            "world_size": world_size,
            "config": config.model_dump(mode="json"),
            "complete": False,
            "stopped": None,
            "bytes_total": 0,
            "files": {},
            "entries": [],
        }
        self._write_manifest()

    @property
    def active(self) -> bool:
        """False once the budget is spent or a disk error happened."""
        return self.stopped is None

    def remaining_bytes(self) -> int:
        """Bytes of budget left for tensor files."""
        return self.max_bytes - self.bytes_written

    def write_file(self, layer: str, part: str, tensors: dict[str, torch.Tensor]) -> str | None:
        """Write one safetensors file of CPU tensors; its name, or None if capturing stopped."""
        if not self.active:
            return None
        data = _serialize(tensors)
        if len(data) > self.remaining_bytes():
            self.stop(
                f"trace budget max_bytes={self.max_bytes} reached ({self.bytes_written} bytes "
                f"written, the next file needs {len(data)}); raise trace.max_bytes or capture "
                "fewer steps, layers or operations"
            )
            return None
        name = file_stem(len(self._manifest["files"]), layer, part)
        try:
            write_bytes_atomic(self.folder / name, data)
        except OSError as error:
            self.stop(f"writing {str(self.folder / name)!r} failed: {error}")
            return None
        self.bytes_written += len(data)
        self._manifest["files"][name] = {
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        self._manifest["bytes_total"] = self.bytes_written
        return name

    def add_entries(self, entries: list[dict[str, Any]]) -> None:
        """Add entries (whose files are written) and rewrite the manifest."""
        if not entries:
            return
        self._manifest["entries"].extend(entries)
        self._write_manifest()

    def stop(self, reason: str) -> None:
        """Stop capturing with a warning; the store stays readable. Never raises."""
        if self.stopped is not None:
            return
        self.stopped = reason
        self._manifest["stopped"] = reason
        warnings.warn(f"thrifty.trace: capturing stopped: {reason}", RuntimeWarning, stacklevel=2)
        self._write_manifest()

    def close(self) -> None:
        """Mark the store complete (the capture block ended normally)."""
        self._manifest["complete"] = True
        self._write_manifest()

    def _write_manifest(self) -> None:
        try:
            # Compact JSON: the manifest is rewritten after every file, so its size matters.
            text = json.dumps(self._manifest, separators=(",", ":"))
            write_text_atomic(self.folder / MANIFEST_NAME, text + "\n")
        except OSError as error:
            if self.stopped is None:
                self.stopped = f"writing the manifest failed: {error}"
                warnings.warn(
                    f"thrifty.trace: capturing stopped: {self.stopped}",
                    RuntimeWarning,
                    stacklevel=3,
                )

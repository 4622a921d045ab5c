"""One process owns a run folder: an exclusive lock taken before anything is written.

Two runs into the same folder would overwrite each other's checkpoints and results, each ending
"successfully" with the other's files mixed in. `RunLock` holds an exclusive `fcntl.flock` on
`<run folder>/run.lock` for the whole run and writes the holder's PID into it, so a second run
is refused with an error that names the holder.

A run killed by SIGKILL cannot clean up, but the kernel releases a dead process's flock, so its
lock file still names it while nobody holds the lock: the next run takes the lock over and says
whose it was (`previous_holder`). POSIX only (Linux, macOS), on local file systems.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from thrifty.errors import CheckpointError

#: The lock file inside a run folder (kept between runs; empty when no run holds it).
LOCK_FILE = "run.lock"


def _holder(text: str) -> int | None:
    """The PID a lock file names, or None if it names none (empty, or not written by thrifty)."""
    text = text.strip()
    return int(text) if text.isdigit() else None


class RunLock:
    """The exclusive lock of one run folder; use as a context manager around the run."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.previous_holder: int | None = None
        """PID named in a lock file that nobody held (a killed run), once acquired."""
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock, or raise CheckpointError naming the process that holds it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(os.pread(fd, 64, 0).decode("ascii", "replace"))
            os.close(fd)
            who = f"process {holder}" if holder is not None else "another process"
            raise CheckpointError(
                f"run folder {str(self.folder)!r} is in use by {who} (it holds "
                f"{str(self.path)!r}); wait for that run to end or stop it, or choose another "
                "--out"
            ) from None
        previous = _holder(os.pread(fd, 64, 0).decode("ascii", "replace"))
        self.previous_holder = previous if previous != os.getpid() else None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the lock file (no holder) and release the lock; a no-op when not held."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the only descriptor releases the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()


__all__ = ["LOCK_FILE", "RunLock"]

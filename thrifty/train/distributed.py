"""Data-parallel training with torch.distributed: process start-up, reductions, rank checks.

`thrifty train --nproc N` spawns N processes on this machine (torch.multiprocessing); a
`torchrun --nproc-per-node N -m thrifty.train.distributed CONFIG` launch works as well, since
both set the usual RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT environment. The backend is
gloo on the CPU and NCCL on CUDA.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

#: Address the spawned processes meet at (all on this machine).
LOCAL_MASTER_ADDR = "127.0.0.1"


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands: its rank, how many there are, its local rank."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_from_environment() -> DistEnv:
    """The DistEnv that torchrun (or `spawn_training`) described in the environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return DistEnv(rank=rank, world_size=world, local_rank=local)


def init_process_group(env: DistEnv, backend: str, device: torch.device) -> None:
    """Join the process group (no-op for a single process)."""
    if not env.enabled or dist.is_initialized():
        return
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=env.rank, world_size=env.world_size)


def destroy_process_group() -> None:
    """Leave the process group if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(values: list[float], device: torch.device, env: DistEnv) -> list[float]:
    """Sum a few numbers over all ranks (in float64, so counts stay exact)."""
    if not env.enabled:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def broadcast_state(model: nn.Module, env: DistEnv) -> None:
    """Copy rank 0's parameters and buffers (bitlengths, activation ranges, BN stats) to all."""
    if not env.enabled:
        return
    with torch.no_grad():
        for tensor in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(tensor.data, src=0)


def check_ranks_identical(model: nn.Module, env: DistEnv) -> bool:
    """True when every parameter and buffer is bitwise equal on all ranks (compares checksums)."""
    if not env.enabled:
        return True
    digest = hashlib.sha256()
    for key, tensor in model.state_dict().items():
        if torch.is_tensor(tensor):
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    gathered: list[Any] = [None] * env.world_size
    dist.all_gather_object(gathered, digest.hexdigest())
    return len(set(gathered)) == 1


def free_port() -> int:
    """A TCP port that is free on this machine now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCAL_MASTER_ADDR, 0))
        return int(sock.getsockname()[1])


def _spawned(rank: int, world_size: int, port: int, fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update(
        {
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(world_size),
            "MASTER_ADDR": LOCAL_MASTER_ADDR,
            "MASTER_PORT": str(port),
        }
    )
    fn(*args)


def spawn(fn: Callable[..., Any], args: tuple, nproc: int) -> None:
    """Run `fn(*args)` in `nproc` fresh processes that form one process group."""
    import torch.multiprocessing as mp

    mp.spawn(_spawned, args=(nproc, free_port(), fn, args), nprocs=nproc, join=True)

"""Data-parallel training on torch.distributed, launched with torchrun (one process per GPU, or per CPU
socket with gloo).

What makes N processes train exactly as one process on the same global batch (tested with gloo on a CPU):
- every rank draws the same epoch (same seed): the kept beats, their order (a DistributedSampler with
  set_epoch(epoch), so the union of the ranks' k-th batches is the permutation's k-th global batch) and the
  jitter of every global batch; each rank takes its part;
- losses are the global batch's: each rank's part is its sum divided by the global denominator (the class
  weights' or the sample count's sum over all ranks), and the value every rank sees is the global sum
  (`global_value`), so loss-based weightings compute the same weights everywhere;
- after backward the model's gradients are summed over ranks (`sum_gradients`); a gradient-based
  weighting sums each task's gradient over ranks before combining them (GradNorm, PCGrad and DB-MTL see the
  global task gradients); learned task weights are computed from global values, so they are identical on
  every rank (averaged anyway);
- only rank 0 validates and writes (checkpoints, metrics, logs).
Batch norm statistics are per rank on a CPU (gloo has no SyncBatchNorm); on CUDA, BatchNorm becomes
SyncBatchNorm. `model.norm: group` depends on no batch statistics at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ecgmtl.errors import ConfigError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1 or dist.is_initialized()

    @property
    def main(self) -> bool:
        return self.rank == 0


SINGLE = Context()


def from_environment(device: torch.device) -> Context:
    """The torchrun environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) -> an initialised process
    group (nccl for a CUDA `device`, gloo on the CPU); SINGLE when not launched by torchrun."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return SINGLE
    ctx = Context(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        cuda = device.type == "cuda"
        if cuda:
            torch.cuda.set_device(ctx.local_rank)
        dist.init_process_group("nccl" if cuda else "gloo")
    return ctx


def device_for(ctx: Context, device: torch.device) -> torch.device:
    """One GPU per local rank."""
    if device.type == "cuda" and ctx.active:
        return torch.device("cuda", ctx.local_rank)
    return device


def check_batch(ctx: Context, batch_size: int) -> int:
    """train.batch_size is the global batch; each rank takes batch_size / world of it."""
    if batch_size % ctx.world:
        raise ConfigError(
            f"train.batch_size {batch_size} is the global batch and must divide among {ctx.world} processes"
        )
    return batch_size // ctx.world


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over ranks, in place (a no-op in one process)."""
    if dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def global_value(part: torch.Tensor) -> torch.Tensor:
    """This rank's part of a sum over ranks -> a tensor whose value is the whole sum (identical on every rank)
    and whose gradient is the part's own; summing the gradients over ranks then gives the global gradient."""
    if not dist.is_initialized():
        return part
    total = all_sum(part.detach().clone())
    return total + (part - part.detach())


def sum_gradients(params: list[torch.nn.Parameter], average: list[torch.nn.Parameter] = ()) -> None:
    """Gradients of `params` summed over ranks (one flat all-reduce); those of `average` (computed from global
    values, so equal on every rank) averaged."""
    if not dist.is_initialized():
        return
    world = dist.get_world_size()
    for group, scale in ((params, None), (list(average), 1.0 / world)):
        grads = [p.grad for p in group if p.grad is not None]
        if not grads:
            continue
        flat = torch.cat([g.reshape(-1) for g in grads])
        all_sum(flat)
        if scale is not None:
            flat.mul_(scale)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()

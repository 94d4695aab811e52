"""Training in several processes, one per GPU, with PyTorch DistributedDataParallel (DDP).

Each process (a *rank*) holds the whole training set and a copy of the network. What each
rank does in :func:`~exodeepfinder.training.run.train`:

- **Its own batches.** Every rank draws ``batch_size`` patches per step from its own random
  generator: rank 0 from ``SeedSequence(seed)``, as a single process does, rank ``r`` from
  ``SeedSequence(seed, spawn_key=(r,))``. The gradients are averaged over the ranks before each
  optimizer step, so all ranks keep identical weights; a step sees ``world_size x batch_size``
  patches (the effective batch) and an epoch as many times more patches as on one process, in
  the same number of steps. The learning rate is the same as on one process.
- **A share of the validation.** The validation batches are those a single process draws (from
  rank 0's seed); rank ``r`` scores batches ``r, r + world_size, ...`` and the confusion matrices
  and losses are gathered, so every rank has the numbers one process would compute.
- **The same plan.** The training loss and accuracy of an epoch are the means over all ranks'
  steps; with a time budget, rank 0's plan (re-made from its measured speed, which waits for
  the slowest rank at every step) is sent to all ranks, so they run the same steps.
- **Rank 0 writes and talks.** Only rank 0 writes checkpoints, the history and its plot, and calls
  ``log``, ``on_step``, ``on_epoch`` and ``progress``; the resume state holds every rank's
  random generator (resume with the same number of processes).

With one process (``torchrun --nproc_per_node 1``) the results are those of a run without DDP.
The processes are started by ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``) or by :func:`run_in_processes` (``edf_train --gpus``).
This module imports PyTorch only when it is used.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

#: Environment variables set by torchrun for each process.
ENV_RANK, ENV_WORLD_SIZE, ENV_LOCAL_RANK, ENV_LOCAL_WORLD_SIZE = "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"
BACKENDS = ("nccl", "gloo")


def launched() -> bool:
    """True in a process started by torchrun or :func:`run_in_processes` (``RANK`` and ``WORLD_SIZE`` are set)."""
    return ENV_RANK in os.environ and ENV_WORLD_SIZE in os.environ


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes, and the collective operations they share.

    The default, ``Ranks()``, is a single process: the operations then return their input.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def main(self) -> bool:
        """True on rank 0, the process that writes the outputs and reports."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or _initialized()

    def broadcast(self, value):
        """Rank 0's ``value`` (any picklable object), on every rank."""
        if not self.distributed:
            return value
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value) -> list:
        """Every rank's ``value``, in rank order, on every rank."""
        if not self.distributed:
            return [value]
        import torch.distributed as dist

        values = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def wrap(self, model, device):
        """``model`` in DistributedDataParallel (gradients averaged over the ranks), or itself alone."""
        if not self.distributed:
            return model
        import warnings

        from torch.nn.parallel import DistributedDataParallel

        # In channels-last layout the 1 x 1 x 1 kernels of the classifier have other (equivalent)
        # strides than their gradients; DDP warns at every step that this "may impair performance".
        warnings.filterwarnings("ignore", message=r"(?s)Grad strides do not match bucket view strides.*"
                                                  r"grad\.sizes\(\) = \[\d+, \d+, 1, 1, 1\]")
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


SINGLE = Ranks()


def _initialized() -> bool:
    import sys

    if "torch" not in sys.modules:  # nothing can have started a process group
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def current_ranks() -> Ranks:
    """The :class:`Ranks` of this process: those of its process group if one is started, else a single process."""
    if not _initialized():
        return SINGLE
    import torch.distributed as dist

    world_size = dist.get_world_size()
    local_world_size = int(os.environ.get(ENV_LOCAL_WORLD_SIZE, world_size))
    return Ranks(dist.get_rank(), world_size, int(os.environ.get(ENV_LOCAL_RANK, 0)), local_world_size)


def rank_seed_sequence(seed, rank: int) -> np.random.SeedSequence:
    """The seed sequence of the patch draws of ``rank`` (rank 0: that of a single process)."""
    base = np.random.SeedSequence(seed)
    return base if rank == 0 else np.random.SeedSequence(base.entropy, spawn_key=(rank,))


def default_backend(device_type: str) -> str:
    return "nccl" if device_type == "cuda" else "gloo"


def start_process_group(backend: str | None = None, device_type: str = "cuda") -> Ranks:
    """Join the training processes described by the environment (torchrun's variables); return this one's Ranks.

    On CUDA, this process is given GPU ``LOCAL_RANK``. ``backend``: "nccl" (GPUs) or "gloo"
    (CPUs); None: nccl on CUDA, else gloo.
    """
    import torch
    import torch.distributed as dist

    backend = backend or default_backend(device_type)
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    local_rank = int(os.environ.get(ENV_LOCAL_RANK, 0))
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return current_ranks()


def stop_process_group(wait: bool = True) -> None:
    """Leave the process group, if one is started.

    With ``wait``, first wait until every process gets here: a process that tears down its
    connections while another still works (rank 0 writing the final files) can abort in gloo's
    threads ("terminate called without an active exception"). After an error, don't wait: the
    others may never arrive.
    """
    if _initialized():
        import torch.distributed as dist

        if wait:
            dist.barrier()
        dist.destroy_process_group()


@contextmanager
def process_group(backend: str | None = None, device_type: str = "cuda"):
    """:func:`start_process_group`, yielding this process's Ranks; leaves the group on the way out."""
    ranks = start_process_group(backend, device_type)
    try:
        yield ranks
    except BaseException:
        stop_process_group(wait=False)
        raise
    stop_process_group()


def free_port() -> int:
    """A TCP port free on this machine now (for the processes to meet on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _process(index: int, function, n_processes: int, port: int, backend: str, device_type: str, threads, args):
    os.environ.update({ENV_RANK: str(index), ENV_LOCAL_RANK: str(index), ENV_WORLD_SIZE: str(n_processes),
                       ENV_LOCAL_WORLD_SIZE: str(n_processes), "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)})
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    with process_group(backend, device_type) as ranks:
        function(ranks, *args)


class ProcessFailed(RuntimeError):
    """A training process ended with an error (which it has printed)."""

    def __init__(self, rank: int, exit_code):
        super().__init__(f"training process {rank} failed (exit status {exit_code})")
        self.rank, self.exit_code = rank, exit_code


def run_in_processes(function, n_processes: int, *args, backend: str | None = None, device_type: str = "cuda"):
    """Run ``function(ranks, *args)`` in ``n_processes`` new processes of this machine, one per GPU.

    Each process joins the process group (``backend``: "nccl" or "gloo"; None: nccl on CUDA,
    else gloo) before ``function`` is called with its :class:`Ranks`. ``function`` and ``args``
    must be picklable (a module-level function). On CPUs each process gets an equal share of the
    cores. Returns when all have finished.

    Raises
    ------
    ProcessFailed
        When a process fails (the others are then stopped).
    """
    import torch.multiprocessing as mp

    backend = backend or default_backend(device_type)
    threads = max(1, (os.cpu_count() or 1) // n_processes) if device_type != "cuda" else None
    try:
        mp.start_processes(_process, args=(function, n_processes, free_port(), backend, device_type, threads, args),
                           nprocs=n_processes, join=True, start_method="spawn")
    except mp.ProcessExitedException as err:
        raise ProcessFailed(err.error_index, err.exit_code) from None
    except mp.ProcessRaisedException as err:
        raise ProcessFailed(err.error_index, 1) from err

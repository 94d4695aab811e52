"""Seconds per training step: the default training path against the previous one, in one run.

Usage: python bench/train.py [--steps 3] [--configs 32x32 16x16 32x4] [--precision fast] [--threads N] [--compile]
       python bench/train.py --widths 16 24 32 [--configs 32x32] ...

With ``--widths`` it times instead the step of ``edf_train`` for the reference network (widths
32, 48, 64) and for a compact one of these widths, alternating, with the FLOPs per voxel of each
(:func:`~exodeepfinder.model.arrays.flops_per_voxel`; a step computes about 3x the forward FLOPs).

For each (patch size, batch size) it times, alternating step by step so that both see the same
machine load:

- ``old``: the step as this package ran it before the training recipes (and as the reference
  recipe's numbers are defined): the batch drawn on the training thread, the network's output
  turned into float32 probabilities, the Tversky loss from one-hot class masks, the accuracy
  from the probabilities;
- ``new``: the step of ``edf_train`` now (:class:`exodeepfinder.training.Trainer` with the default
  recipe): the next batch drawn by a background thread while the network works, the losses
  from the logits with gathered (not one-hot) class counts.

It prints the median wall time and CPU time per step of each, their ratio, and the CPU
(lscpu's model name and flags that matter: avx2, avx512f, avx512_bf16, amx_bf16). With
``--compile`` it also times ``torch.compile`` of the network (inductor), compilation included.
Patches are drawn by the real sampler from a simulated, normalised movie. On a machine shared
with other jobs only the ratios are meaningful.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parse_config(text):
    patch, batch = text.lower().split("x")
    return int(patch), int(batch)


def cpu_name() -> str:
    """Model name and the vector extensions that decide the speed of training on a CPU."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{name} ({info.count('processor')} CPUs; {' '.join(wanted) or 'no AVX2'})"


def old_step(model, optimizer, sampler, batch_size, autocast_dtype, device):
    """One training step as the package ran it before the recipes (git 2f1137f), for comparison."""
    import contextlib

    import torch

    batch = sampler.sample(batch_size)
    frames = torch.from_numpy(batch.frames).to(device)
    labels = torch.from_numpy(batch.labels).to(device)
    if device.type in ("cpu", "cuda"):
        frames = frames.contiguous(memory_format=torch.channels_last_3d)
    model.train()
    optimizer.zero_grad(set_to_none=True)
    context = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
    with context:
        outputs = model(frames)
    probabilities = torch.softmax(outputs.float(), dim=1).float()
    truth = torch.nn.functional.one_hot(labels.long(), 3).movedim(-1, 1).to(probabilities.dtype)
    axes = [0, 2, 3, 4]
    true_positives = (probabilities * truth).sum(axes)
    false_positives = probabilities.sum(axes) - true_positives
    false_negatives = truth.sum(axes) - true_positives
    loss = 3 - (true_positives / (true_positives + 0.5 * false_positives + 0.5 * false_negatives + 1e-7)).sum()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        accuracy = (probabilities.argmax(dim=1) == labels).float().mean()
    return float(loss.detach()), float(accuracy)


def timed(function, device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="timed steps of each path per configuration (after 1 warm-up)")
    parser.add_argument("--precision", default="fast", choices=["fast", "fp32"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--configs", nargs="+", type=parse_config, default=[(32, 32), (16, 16), (32, 4)],
                        help="PATCHxBATCH (default: 32x32, the issue's figure, and the default recipe's stages)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the network")
    parser.add_argument("--widths", type=int, nargs=3, default=None,
                        help="time the reference network against a compact one of these widths (e.g. 16 24 32)")
    args = parser.parse_args(argv)

    import torch

    from exodeepfinder.events.targets import events_to_labels
    from exodeepfinder.model import UNet
    from exodeepfinder.model.weights import pick_device
    from exodeepfinder.simulation.simulate import simulate_movie
    from exodeepfinder.training.data import prepare_movie
    from exodeepfinder.training.recipe import DEFAULT
    from exodeepfinder.training.sampling import PatchSampler
    from exodeepfinder.training.trainer import Trainer, keras_initialization

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    sim = simulate_movie((96, 128, 128), n_events=30, n_spots=30, seed=0)
    objects = pd.concat([sim.events.assign(class_label=2)[["t", "y", "x", "class_label"]],
                         sim.spots.groupby("spot_id").first().reset_index().assign(class_label=1)[
                             ["t", "y", "x", "class_label"]]], ignore_index=True)
    movie = prepare_movie("bench", sim.movie, events_to_labels(objects, sim.movie.shape), objects)
    print(f"CPU: {cpu_name()}; device {device}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.widths:
        return compare_widths(movie, tuple(args.widths), args, device)
    print(f"{'patch':>5} {'batch':>5} {'dtype':>8} {'old s/step':>10} {'new s/step':>10} {'old/new':>7} "
          f"{'old cpu s':>9} {'new cpu s':>9}")
    for patch_size, batch_size in args.configs:
        shift = min(patch_size // 2, 16)
        torch.manual_seed(0)
        old_model = UNet(softmax=False)
        keras_initialization(old_model)
        new_model = UNet(softmax=False)
        new_model.load_state_dict(old_model.state_dict())
        trainer = Trainer(new_model, [movie], [], recipe=DEFAULT, device=device, precision=args.precision, seed=0)
        old_model = old_model.to(device).to(memory_format=torch.channels_last_3d)
        optimizer = torch.optim.Adam(old_model.parameters(), lr=1e-4)
        old_sampler = PatchSampler([movie], patch_size, shift, np.random.default_rng(0))
        new_sampler = PatchSampler([movie], patch_size, shift, np.random.default_rng(0))
        batches = iter(trainer.training_batches(new_sampler, batch_size, args.steps + 1))
        run_old = lambda: old_step(old_model, optimizer, old_sampler, batch_size, trainer.autocast_dtype, device)  # noqa: E731
        run_new = lambda: trainer.train_step(next(batches))  # noqa: E731
        run_old(), run_new()  # warm-up: allocations, kernel selection
        old, new = [], []
        for _ in range(args.steps):  # alternate: both paths see the same load
            old.append(timed(run_old, device))
            new.append(timed(run_new, device))
        old_wall, new_wall = (statistics.median(w for w, _ in runs) for runs in (old, new))
        old_cpu, new_cpu = (statistics.median(c for _, c in runs) for runs in (old, new))
        dtype = str(trainer.autocast_dtype).replace("torch.", "") if trainer.autocast_dtype else "float32"
        print(f"{patch_size:5d} {batch_size:5d} {dtype:>8} {old_wall:10.3f} {new_wall:10.3f} {old_wall / new_wall:7.2f} "
              f"{old_cpu:9.3f} {new_cpu:9.3f}", flush=True)
        if args.compile:
            compile_step(trainer, new_sampler, batch_size, args.steps, device, new_wall)
    return 0


def compare_widths(movie, widths, args, device) -> int:
    """Seconds per ``edf_train`` step of the reference network and of the compact one of ``widths``, alternating."""
    import torch

    from exodeepfinder.model import UNet
    from exodeepfinder.model.arrays import DEFAULT_WIDTHS, flops_per_voxel
    from exodeepfinder.training.recipe import DEFAULT
    from exodeepfinder.training.sampling import PatchSampler
    from exodeepfinder.training.trainer import Trainer, keras_initialization

    print(f"{'patch':>5} {'batch':>5} {'widths':>12} {'MFLOP/voxel':>11} {'s/step':>8} {'cpu s':>8} {'TFLOP/step':>10} "
          f"{'GFLOP/s':>8} {'ratio':>6}")
    for patch_size, batch_size in args.configs:
        shift = min(patch_size // 2, 16)
        runs = {}
        for network_widths in (DEFAULT_WIDTHS, widths):
            torch.manual_seed(0)
            model = UNet(softmax=False, widths=network_widths)
            keras_initialization(model)
            trainer = Trainer(model, [movie], [], recipe=DEFAULT, device=device, precision=args.precision, seed=0)
            sampler = PatchSampler([movie], patch_size, shift, np.random.default_rng(0))
            batches = iter(trainer.training_batches(sampler, batch_size, args.steps + 1))
            runs[network_widths] = (lambda t=trainer, b=batches: t.train_step(next(b)), [])
        for step, times in runs.values():
            step()  # warm-up: allocations, kernel selection
        for _ in range(args.steps):  # alternate: both see the same load
            for step, times in runs.values():
                times.append(timed(step, device))
        reference = statistics.median(w for w, _ in runs[DEFAULT_WIDTHS][1])
        for network_widths, (_, times) in runs.items():
            wall, cpu = statistics.median(w for w, _ in times), statistics.median(c for _, c in times)
            flops = 3 * flops_per_voxel(network_widths) * batch_size * patch_size ** 3
            print(f"{patch_size:5d} {batch_size:5d} {'/'.join(map(str, network_widths)):>12} "
                  f"{flops_per_voxel(network_widths) / 1e6:11.3f} {wall:8.2f} {cpu:8.2f} {flops / 1e12:10.2f} "
                  f"{flops / wall / 1e9:8.1f} {reference / wall:6.2f}", flush=True)
    return 0


def compile_step(trainer, sampler, batch_size, steps, device, eager_seconds):
    """Time torch.compile of the network: the first step (compilation) and the next ones."""
    import torch

    trainer.model = torch.compile(trainer.model)
    batches = iter(trainer.training_batches(sampler, batch_size, steps + 1))
    first, _ = timed(lambda: trainer.train_step(next(batches)), device)
    walls = [timed(lambda: trainer.train_step(next(batches)), device)[0] for _ in range(steps)]
    compiled = statistics.median(walls)
    saved = eager_seconds - compiled
    pays_after = f"{(first - compiled) / saved:.0f} steps" if saved > 0 else "never"
    print(f"      torch.compile: first step {first:.1f} s (compilation), then {compiled:.3f} s/step "
          f"({eager_seconds / compiled:.2f}x eager); pays back after {pays_after}", flush=True)
    trainer.model = trainer.model._orig_mod


if __name__ == "__main__":
    sys.exit(main())

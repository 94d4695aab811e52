"""Seconds per training step of the U-Net (sampling + forward + backward + Adam) at the reference stages.

Usage: python bench/train.py [--steps 3] [--precision fast fp32] [--device auto] [--configs 16x128 32x32 48x10]

Prints, for each (patch size, batch size), the median wall time of a training step, the CPU time
per step, and the ratio to the reference implementation (TensorFlow 2.21, CPU) measured on our
2-core machine. Patches are drawn by the real sampler from a simulated, normalised movie.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import pandas as pd

#: Seconds per step of the reference (TensorFlow 2.21 CPU, 2 cores), by (patch size, batch size).
REFERENCE_SECONDS = {(16, 128): 2.14, (32, 32): 4.59, (48, 10): 4.71}


def parse_config(text):
    patch, batch = text.lower().split("x")
    return int(patch), int(batch)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration (after 1 warm-up)")
    parser.add_argument("--precision", nargs="+", default=["fast", "fp32"], choices=["fast", "fp32"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--configs", nargs="+", type=parse_config, default=list(REFERENCE_SECONDS),
                        help="PATCHxBATCH, e.g. 32x32")
    args = parser.parse_args(argv)

    import torch

    from exodeepfinder.events.targets import events_to_labels
    from exodeepfinder.model import UNet
    from exodeepfinder.model.weights import pick_device
    from exodeepfinder.simulation.simulate import simulate_movie
    from exodeepfinder.training.data import prepare_movie
    from exodeepfinder.training.sampling import PatchSampler
    from exodeepfinder.training.trainer import Trainer, keras_initialization

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    sim = simulate_movie((96, 128, 128), n_events=30, n_spots=30, seed=0)
    objects = sim.events.assign(class_label=2)
    spots = sim.spots.groupby("spot_id").first().reset_index().assign(class_label=1)
    objects = pd.concat([objects[["t", "y", "x", "class_label"]], spots[["t", "y", "x", "class_label"]]],
                        ignore_index=True)
    labels = events_to_labels(objects, sim.movie.shape)
    movie = prepare_movie("bench", sim.movie, labels, objects)
    print(f"device: {device}; torch {torch.__version__}; {torch.get_num_threads()} threads")
    print(f"{'patch':>5} {'batch':>5} {'precision':>9} {'dtype':>9} {'s/step':>8} {'cpu s/step':>10} "
          f"{'reference':>9} {'speed-up':>8}")
    for patch_size, batch_size in args.configs:
        for precision in args.precision:
            torch.manual_seed(0)
            model = UNet(softmax=False)
            keras_initialization(model)
            trainer = Trainer(model, [movie], [], device=device, precision=precision, seed=0)
            sampler = PatchSampler([movie], patch_size, min(patch_size // 2, 16), np.random.default_rng(0))
            trainer.train_step(sampler.sample(batch_size))  # warm-up (allocations, kernel selection)
            walls, cpus = [], []
            for _ in range(args.steps):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                wall, cpu = time.perf_counter(), time.process_time()
                trainer.train_step(sampler.sample(batch_size))
                if device.type == "cuda":
                    torch.cuda.synchronize()
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            seconds = statistics.median(walls)
            reference = REFERENCE_SECONDS.get((patch_size, batch_size))
            dtype = str(trainer.autocast_dtype).replace("torch.", "") if trainer.autocast_dtype else "float32"
            ratio = f"{reference / seconds:8.2f}" if reference else f"{'':>8}"
            ref = f"{reference:9.2f}" if reference else f"{'':>9}"
            print(f"{patch_size:5d} {batch_size:5d} {precision:>9} {dtype:>9} {seconds:8.3f} "
                  f"{statistics.median(cpus):10.3f} {ref} {ratio}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

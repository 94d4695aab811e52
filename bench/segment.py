"""Benchmark of the segmentation: the default against PyTorch eager with the reference tiling.

Writes a simulated uint16 movie (the package simulator) to a temporary HDF5 file and segments it,
streaming from that file as ``edf_segment`` does, once per mode. Each mode runs in a fresh process,
so that its peak RSS is its own. Modes:

- ``default``: what ``segment_movie`` does by default (backend "auto": OpenVINO on a CPU,
  PyTorch on a GPU; precision "fast"; the fast tiling; the default memory budget);
- ``torch-reference``: PyTorch eager with the reference tiling (precision "fast": bfloat16
  autocast where the CPU has it, float32 here otherwise), the previous default;
- ``fp32``: precision "fp32" (reference tiling, float32; OpenVINO on a CPU);
- ``torch-fp32``: PyTorch eager, float32, reference tiling.

The ratio default / torch-reference, measured in one run, is the figure that holds across
machines; absolute times depend on the CPU and on what else runs on it.

    .venv/bin/python bench/segment.py                                # 100 x 400 x 300
    .venv/bin/python bench/segment.py --frames 250                   # the issue's movie
    .venv/bin/python bench/segment.py --modes default --max_memory 2GB
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_name  # noqa: E402  (bench/machine.py)

WEIGHTS = Path(__file__).resolve().parents[1].parent / "shared/data/net_weights_FINAL.h5"
MODES = {
    "default": dict(),
    "torch-reference": dict(backend="torch", tiling="reference"),
    "fp32": dict(precision="fp32"),
    "torch-fp32": dict(backend="torch", precision="fp32"),
}


def make_movie(path, frames, height, width):
    from exodeepfinder.io.h5 import write_h5
    from exodeepfinder.simulation import simulate_movie

    density = frames * height * width / (200 * 128 * 128)
    simulation = simulate_movie((frames, height, width), n_events=int(20 * density),
                                n_spots=int(min(40 * height * width / 128 ** 2, 2000)), seed=0)
    write_h5(path, simulation.movie)


def run_mode(movie_path, mode, device, threads, max_memory):
    """Segment in this process; print one JSON line with the timings."""
    import torch

    from exodeepfinder.inference import iter_segment
    from exodeepfinder.inference.segment import prepare
    from exodeepfinder.io.h5 import open_h5
    from exodeepfinder.model.weights import load_model

    if threads:
        torch.set_num_threads(threads)
    model = load_model(WEIGHTS if WEIGHTS.is_file() else None, device)
    device = model.device
    movie = open_h5(movie_path)
    options = dict(MODES[mode], max_memory=max_memory)
    runner, plan = prepare(movie.shape, model, **options)
    first = []
    start = time.perf_counter()
    for _ in iter_segment(movie, model, progress=lambda done, total: first.append(time.perf_counter())
                          if done == 1 else None, **options):
        pass
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    voxels = movie.shape[0] * movie.shape[1] * movie.shape[2]
    print(json.dumps(dict(mode=mode, engine=runner.description, threads=torch.get_num_threads(),
                          window=list(plan.window_shape), windows_per_block=plan.windows_per_block,
                          frames_per_block=plan.frames_per_block, t_margin=plan.t_margin,
                          computed_per_voxel=plan.computed_voxels(movie.shape[0]) / voxels,
                          first_window_s=(first[0] - start) if first else None,
                          shape=list(movie.shape), seconds=seconds, voxels_per_s=voxels / seconds,
                          peak_rss_mb=peak_mb)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--height", type=int, default=400)
    parser.add_argument("--width", type=int, default=300)
    parser.add_argument("--modes", nargs="+", default=["default", "torch-reference"], choices=list(MODES))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--max_memory", default=None, help="memory budget, e.g. 2GB (default: the library's)")
    parser.add_argument("--_run", nargs=2, metavar=("MOVIE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._run:
        return run_mode(args._run[0], args._run[1], args.device, args.threads, args.max_memory)
    with tempfile.TemporaryDirectory() as folder:
        movie_path = Path(folder) / "movie.h5"
        start = time.perf_counter()
        make_movie(movie_path, args.frames, args.height, args.width)
        print(f"movie {args.frames} x {args.height} x {args.width} uint16 written in {time.perf_counter() - start:.1f} s; "
              f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs; load average {os.getloadavg()[0]:.1f}")
        results = {}
        for mode in args.modes:
            command = [sys.executable, __file__, "--_run", str(movie_path), mode, "--device", args.device,
                       "--threads", str(args.threads)] + (["--max_memory", args.max_memory] if args.max_memory else [])
            run = subprocess.run(command, capture_output=True, text=True)
            if run.returncode:
                print(f"{mode}: failed\n{run.stderr[-3000:]}")
                continue
            result = json.loads(run.stdout.splitlines()[-1])
            results[mode] = result
            print(f"{mode:>15}: {result['seconds']:7.1f} s  {result['voxels_per_s'] / 1e6:6.3f} M voxels/s  "
                  f"peak RSS {result['peak_rss_mb'] / 1024:5.2f} GB  | {result['engine']}, "
                  f"window {'x'.join(map(str, result['window'][2:]))} (x{result['windows_per_block']} per block, "
                  f"{result['frames_per_block']} frames kept, t margin {result['t_margin']}), "
                  f"{result['computed_per_voxel']:.2f} computed voxels per voxel; "
                  f"first window after {result['first_window_s']:.1f} s", flush=True)
        if "default" in results and "torch-reference" in results:
            ratio = results["torch-reference"]["seconds"] / results["default"]["seconds"]
            print(f"default is {ratio:.2f}x faster than PyTorch eager with the reference tiling "
                  f"(measured in this run, same machine and load)")
        if "default" in results:
            rate = results["default"]["voxels_per_s"]
            print(f"1000 x 400 x 300 at the default's rate: {1000 * 400 * 300 / rate:.0f} s")


if __name__ == "__main__":
    main()

"""Benchmark of ``segment_movie``: movie voxels per second, total time and peak memory.

Writes a synthetic uint16 movie (the package simulator) to a temporary HDF5 file and
segments it streaming from that file, as ``edf_segment`` does, in the default (fast) and
fp32 modes. Each mode runs in a fresh process so that peak RSS is its own.

    .venv/bin/python bench/segment.py                      # 1000 x 400 x 300, both modes
    .venv/bin/python bench/segment.py --frames 100         # shorter: extrapolate per voxel
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

WEIGHTS = Path(__file__).resolve().parents[1].parent / "shared/data/net_weights_FINAL.h5"
REFERENCE_SECONDS = 16 * 60  # reference ExoDeepFinder, 1000 x 400 x 300 on a 2-core CPU (issue 2)


def make_movie(path, frames, height, width):
    from exodeepfinder.io.h5 import write_h5
    from exodeepfinder.simulation import simulate_movie

    density = frames * height * width / (200 * 128 * 128)
    simulation = simulate_movie((frames, height, width), n_events=int(20 * density),
                                n_spots=int(min(40 * height * width / 128 ** 2, 2000)), seed=0)
    write_h5(path, simulation.movie)


def run_mode(movie_path, precision, device, threads):
    """Segment in this process; print one JSON line with the timings."""
    import torch

    from exodeepfinder.inference import iter_segment
    from exodeepfinder.io.h5 import open_h5
    from exodeepfinder.model.weights import load_unet

    if threads:
        torch.set_num_threads(threads)
    model, device, _ = load_unet(WEIGHTS if WEIGHTS.is_file() else None, device)
    movie = open_h5(movie_path)
    start = time.perf_counter()
    for _ in iter_segment(movie, model, precision=precision):
        pass
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    voxels = movie.shape[0] * movie.shape[1] * movie.shape[2]
    print(json.dumps(dict(precision=precision, device=str(device), threads=torch.get_num_threads(),
                          shape=list(movie.shape), seconds=seconds, voxels_per_s=voxels / seconds,
                          peak_rss_mb=peak_mb)))


def time_reference_patch(device, threads, patch_size=160):
    """Seconds for one float32 forward pass on a reference patch (plain PyTorch layout); print JSON."""
    import torch

    from exodeepfinder.model.weights import load_unet

    if threads:
        torch.set_num_threads(threads)
    model, device, _ = load_unet(WEIGHTS if WEIGHTS.is_file() else None, device)
    patch = torch.rand(1, 1, patch_size, patch_size, patch_size, device=device)
    with torch.inference_mode():
        start = time.perf_counter()
        model(patch)
        if device.type == "cuda":
            torch.cuda.synchronize()
    print(json.dumps(dict(seconds=time.perf_counter() - start)))


def reference_patches(shape, patch_size=160):
    """Number of patches of the reference tiling of a movie."""
    from exodeepfinder.inference.tiling import reference_axis

    count = 1
    for n in shape:
        count *= len(reference_axis(n, patch_size).starts)
    return count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--height", type=int, default=400)
    parser.add_argument("--width", type=int, default=300)
    parser.add_argument("--modes", nargs="+", default=["fast", "fp32"], choices=["fast", "fp32"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--no_reference", action="store_true",
                        help="skip timing one reference patch (160^3, float32) on this machine")
    parser.add_argument("--_reference", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--_run", nargs=2, metavar=("MOVIE", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._run:
        return run_mode(args._run[0], args._run[1], args.device, args.threads)
    if args._reference:
        return time_reference_patch(args.device, args.threads)
    with tempfile.TemporaryDirectory() as folder:
        movie_path = Path(folder) / "movie.h5"
        start = time.perf_counter()
        make_movie(movie_path, args.frames, args.height, args.width)
        print(f"movie {args.frames} x {args.height} x {args.width} uint16 written in {time.perf_counter() - start:.1f} s; "
              f"{os.cpu_count()} CPUs")
        full_voxels = 1000 * 400 * 300
        results = {}
        for precision in args.modes:
            command = [sys.executable, __file__, "--_run", str(movie_path), precision, "--device", args.device,
                       "--threads", str(args.threads)]
            result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            estimate = full_voxels / result["voxels_per_s"]
            results[precision] = result
            print(f"{precision:>5} on {result['device']} ({result['threads']} threads): {result['seconds']:.1f} s, "
                  f"{result['voxels_per_s'] / 1e6:.3f} M movie voxels/s, peak RSS {result['peak_rss_mb']:.0f} MB; "
                  f"1000 x 400 x 300 at this rate: {estimate:.0f} s "
                  f"({REFERENCE_SECONDS / estimate:.1f}x faster than the reference's ~{REFERENCE_SECONDS // 60} min)")
        if not args.no_reference:
            # The reference tiling run with this PyTorch on this machine now: same load, fair ratios.
            command = [sys.executable, __file__, "--_reference", "--device", args.device, "--threads", str(args.threads)]
            patch_seconds = json.loads(subprocess.run(command, check=True, capture_output=True,
                                                      text=True).stdout.splitlines()[-1])["seconds"]
            here = reference_patches((args.frames, args.height, args.width)) * patch_seconds
            full = reference_patches((1000, 400, 300)) * patch_seconds
            print(f"reference tiling (float32, one 160^3 patch: {patch_seconds:.1f} s): this movie {here:.0f} s, "
                  f"1000 x 400 x 300 {full:.0f} s; "
                  + ", ".join(f"{mode} {here / result['seconds']:.1f}x faster" for mode, result in results.items()))


if __name__ == "__main__":
    main()

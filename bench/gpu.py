"""GPU benchmark of the segmentation: a 1000 x 400 x 300 movie on CUDA, in one short run.

Modes, each timed after a warm-up on the first frames (cuDNN autotuning, compilation):

- ``torch fp32 reference``: float32, the reference tiling (the reference's arithmetic and windows);
- ``torch fast reference``: bfloat16 autocast (float16 where bfloat16 is missing), channels-last,
  the reference tiling;
- ``default``: what ``segment_movie`` does on a GPU: the fast tiling (whole frames, long blocks of
  frames), bfloat16 autocast, channels-last;
- ``default float16``: the same with float16 autocast;
- ``default + torch.compile``: the network compiled by ``torch.compile`` (inductor).

Each mode prints its windows, its time (each of ``--repeats`` runs on the same movie: the first
includes cuDNN's autotuning for the movie's window shapes), movie voxels per second, peak GPU
memory, and how its event voxels agree with the float32 reference tiling's (|A∩B|/|A∪B|).
``--window_caps`` adds runs of the default with smaller windows. Without a CUDA GPU the script
says so and runs its CPU path on a small movie, to check that it works.

    python bench/gpu.py                         # 1000 x 400 x 300
    python bench/gpu.py --frames 500 --skip_compile       # about 2 minutes on an H200
    python bench/gpu.py --frames 250 --modes default --window_caps 4 8 16 --repeats 2

Measured on an H200: docs/segment.md ("On a GPU").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parents[1].parent / "shared/data/net_weights_FINAL.h5"
MODES = {
    "torch fp32 reference": dict(backend="torch", precision="fp32", tiling="reference"),
    "torch fast reference": dict(backend="torch", precision="fast", tiling="reference"),
    "default": dict(),
    "default float16": dict(),
    "default + torch.compile": dict(),
}


def make_movie(frames, height, width, seed=0):
    """A simulated movie; long movies repeat a 100-frame simulation (simulating is slower than segmenting)."""
    import numpy as np

    from exodeepfinder.simulation import simulate_movie

    part = min(frames, 100)
    density = part * height * width / (200 * 128 * 128)
    movie = simulate_movie((part, height, width), n_events=int(20 * density),
                           n_spots=int(min(40 * height * width / 128 ** 2, 2000)), seed=seed).movie
    return np.concatenate([movie] * -(-frames // part))[:frames]


def segment_with(movie, model, mode, device, window_cap=None, repeats=1):
    """Labels and seconds of each of ``repeats`` runs of ``mode`` (a cap, if given, on the voxels of one window)."""
    import torch

    import exodeepfinder.inference.segment as segment
    from exodeepfinder.inference import segment_movie
    from exodeepfinder.model import precision

    make_runner, autocast_dtype = segment.make_runner, precision.autocast_dtype

    def patched_runner(*args, **kwargs):
        runner = make_runner(*args, **kwargs)
        if mode == "default + torch.compile":
            runner.model = torch.compile(runner.model)
        if window_cap:
            runner.max_window_voxels = min(runner.max_window_voxels or window_cap, window_cap)
        return runner

    segment.make_runner = patched_runner
    if mode == "default float16":
        import exodeepfinder.inference.backends as backends
        backends.autocast_dtype = lambda device, precision: None if precision == "fp32" else torch.float16
    try:
        options = MODES[mode]
        _, plan = segment.prepare(movie.shape, model, device=device, **options)
        print(f"{'':>24}  windows of {plan.frames_per_block + 2 * plan.t_margin} x {plan.y.length} x "
              f"{plan.x.length} ({plan.window_voxels / 1e6:.1f} M voxels), {plan.windows_per_block} per block of "
              f"{plan.frames_per_block} frames, {plan.batch} per call", flush=True)
        if device.type == "cuda":
            segment_movie(movie[:64], model, device=device, **options)  # warm-up: autotuning, compilation
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        seconds = []
        for _ in range(repeats):  # the first run may autotune for the movie's own window shapes
            start = time.perf_counter()
            labels = segment_movie(movie, model, device=device, **options)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds.append(time.perf_counter() - start)
        return labels, seconds
    finally:
        segment.make_runner = make_runner
        import exodeepfinder.inference.backends as backends
        backends.autocast_dtype = autocast_dtype


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--height", type=int, default=400)
    parser.add_argument("--width", type=int, default=300)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--skip_compile", action="store_true", help="leave out the torch.compile mode")
    parser.add_argument("--window_caps", nargs="+", type=float, default=[], metavar="MVOXELS",
                        help="also run the default with these caps on the voxels of one network window (millions)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="timed runs of each mode on the same movie (the first may include cuDNN autotuning)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--weights", type=Path, default=WEIGHTS,
                        help="network weights (default: the official ones beside the repository, else the bundled model)")
    args = parser.parse_args()

    import torch

    from exodeepfinder import load_model

    if not torch.cuda.is_available():
        print(f"no CUDA GPU available to PyTorch {torch.__version__}: nothing to measure on a GPU. "
              "Checking the CPU path on a small movie instead.")
        device = torch.device("cpu")
        args.frames, args.height, args.width = 16, 48, 48
        modes = ["default"]
    else:
        device = torch.device("cuda")
        properties = torch.cuda.get_device_properties(device)
        print(f"GPU: {properties.name}, {properties.total_memory / 1024 ** 3:.0f} GiB; torch {torch.__version__}, "
              f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
              f"bfloat16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}")
        modes = [m for m in args.modes if not (args.skip_compile and "compile" in m)]
    model = load_model(args.weights if args.weights.is_file() else None, device=str(device))
    print(f"weights: {model.weights_path}")
    start = time.perf_counter()
    movie = make_movie(args.frames, args.height, args.width)
    voxels = movie.size
    print(f"movie {' x '.join(map(str, movie.shape))} simulated in {time.perf_counter() - start:.0f} s")
    results, reference = [], None
    runs = [(mode, None) for mode in modes] + [("default", cap) for cap in args.window_caps]
    for mode, cap in runs:
        name = mode if cap is None else f"default, windows <= {cap:g} M"
        try:
            labels, seconds = segment_with(movie, model, mode, device, cap and int(cap * 1e6), args.repeats)
        except Exception as error:  # one failing mode (e.g. torch.compile without a compiler) must not end the run
            print(f"{name:>24}: failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}", flush=True)
            continue
        events = labels == 2
        if reference is None and mode == "torch fp32 reference":
            reference = events
        agreement = (events & reference).sum() / max((events | reference).sum(), 1) if reference is not None else None
        peak = torch.cuda.max_memory_allocated(device) / 1024 ** 3 if device.type == "cuda" else float("nan")
        best = min(seconds)
        results.append(dict(mode=name, seconds=best, all_seconds=seconds, voxels_per_s=voxels / best,
                            peak_gpu_gib=peak, event_agreement=agreement, shape=list(movie.shape)))
        runs_text = " / ".join(f"{t:.2f}" for t in seconds)
        print(f"{name:>24}: {runs_text} s  {voxels / best / 1e6:8.2f} M voxels/s  peak GPU {peak:5.1f} GiB  "
              f"event voxels vs fp32 reference {agreement if agreement is None else f'{agreement:.4f}'}", flush=True)
        del labels
    times = {r["mode"]: r["seconds"] for r in results}
    if "default" in times and "torch fp32 reference" in times:
        print(f"default is {times['torch fp32 reference'] / times['default']:.1f}x faster than float32 with the "
              f"reference tiling; 1000 x 400 x 300 at the default's rate: "
              f"{times['default'] * 1000 * 400 * 300 / voxels:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())

"""Speed of int8 segmentation with the reference's 25 px of border padding against FAST_PAD (4), one run.

Alternates the two (``--repeats`` times each) on one simulated movie, in the same process (the int8
graph compiled once per window shape first, untimed), and prints the times, the computed voxels per
movie voxel and the ratio. Quality of the two: ``bench/segment_quality.py --variants "pad 25" "fast default"``.

    .venv/bin/python bench/border_padding.py --shape 100 400 300
"""

from __future__ import annotations

import argparse
import os
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[100, 400, 300], metavar=("T", "Y", "X"))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import exodeepfinder.inference.segment as segment
    from exodeepfinder.inference.tiling import PAD
    from exodeepfinder.model.weights import load_model
    from exodeepfinder.simulation import simulate_movie

    movie = simulate_movie(tuple(args.shape), seed=1).movie
    model = load_model("bundled", "cpu")
    pads = {"25 px (reference)": PAD, f"{segment.FAST_PAD} px (FAST_PAD)": segment.FAST_PAD}
    times = {name: [] for name in pads}
    computed = {}
    for repeat in range(args.repeats + 1):
        for name, pad in pads.items():
            segment.FAST_PAD = pad
            _, plan = segment.prepare(movie.shape, model, precision="int8")
            computed[name] = plan.computed_voxels(movie.shape[0]) / movie.size
            start = time.perf_counter()
            segment.segment_movie(movie, model, precision="int8")
            if repeat:  # the first round compiles each window shape
                times[name].append(time.perf_counter() - start)
    load = os.getloadavg()[0]
    print(f"int8 segmentation of {' x '.join(map(str, args.shape))}, {os.cpu_count()} CPUs, load {load:.1f}")
    for name in pads:
        print(f"  border {name}: {min(times[name]):.1f} s (best of {args.repeats}; all {', '.join(f'{t:.1f}' for t in times[name])}), "
              f"{computed[name]:.3f} computed voxels per voxel")
    first, second = (min(times[name]) for name in pads)
    print(f"  ratio: {first / second:.2f}x")


if __name__ == "__main__":
    main()

"""Speed of the built-in spot detector on 400 x 300 frames (the reference movie size).

Prints frames per second of ``detect_spots`` on a simulated movie, per stage, and the ratio to
the target of 200 frames/s (2 CPU cores). Usage: ``python bench/spots.py [--frames 400] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from exodeepfinder.simulation.simulate import simulate_movie
from exodeepfinder.training_data.spots import detect_spots, detect_spots_in_frames, log_filter, select_scale

TARGET_FPS = 200.0


def best_time(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    movie = simulate_movie((args.frames, 300, 400), n_events=20, n_spots=300, seed=0).movie
    n = movie.shape[0]
    print(f"movie: {n} frames of 300 x 400 (uint16); CPUs: {os.cpu_count()}")
    scale = select_scale(movie[np.linspace(0, n - 1, 8).astype(int)])
    stages = {
        "detect_spots (whole, automatic scale)": lambda: detect_spots(movie),
        "  scale selection (8 frames, 5 scales)": lambda: select_scale(movie[np.linspace(0, n - 1, 8).astype(int)]),
        "  LoG filter only": lambda: [log_filter(movie[i:i + 64], scale) for i in range(0, n, 64)],
        "  detection at a fixed scale": lambda: [detect_spots_in_frames(movie[i:i + 64], scale=scale)
                                                 for i in range(0, n, 64)],
    }
    for name, function in stages.items():
        seconds = best_time(function, args.repeat)
        if "scale selection" in name:
            print(f"{name:42s} {seconds * 1e3:8.1f} ms per movie")
            continue
        fps = n / seconds
        print(f"{name:42s} {fps:8.0f} frames/s  ({fps / TARGET_FPS:.2f} x target {TARGET_FPS:.0f})")


if __name__ == "__main__":
    main()

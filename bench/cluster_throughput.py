"""Benchmark: movies per minute of `exodeepfinder detect --batch` in this process, on local:1 and on local:2.

A batch of simulated movies (default 4 movies of 20 x 48 x 48, patch size 56: seconds each on a
laptop CPU) is detected three times, each time in a fresh copy: serially (the plain --batch loop,
one process), and one task per movie on a Dask LocalCluster of 1 and of N worker processes
(``--cluster local:1`` and ``local:N``; workers x PyTorch threads = cores). The wall time counts
everything the user waits for, cluster start included. The outputs of the three runs are checked
to be the same (events CSV and XML bytes, segmentation labels).

    .venv/bin/python bench/cluster_throughput.py [--movies 4] [--shape 20,48,48] [--workers 2] [--command detect]

Timings taken beside other jobs on a shared machine vary; the ratios of one run are what compare.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_name  # noqa: E402  (bench/machine.py)


def make_batch(folder: Path, n_movies: int, shape) -> None:
    from exodeepfinder.io.h5 import write_h5
    from exodeepfinder.simulation import simulate_movie

    for i in range(n_movies):
        simulation = simulate_movie(shape, n_events=3, n_spots=5, seed=100 + i)
        (folder / f"cell{i}").mkdir(parents=True)
        write_h5(folder / f"cell{i}" / "movie.h5", simulation.movie)


def same_outputs(a: Path, b: Path) -> bool:
    import numpy as np

    from exodeepfinder.io.h5 import read_h5

    for cell in sorted(a.iterdir()):
        for name in ("movie_events.csv", "movie_events.xml"):
            if (cell / name).read_bytes() != (b / cell.name / name).read_bytes():
                return False
        if not np.array_equal(read_h5(cell / "movie_segmentation.h5"), read_h5(b / cell.name / "movie_segmentation.h5")):
            return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--movies", type=int, default=4)
    parser.add_argument("--shape", default="20,48,48", help="t,y,x of each simulated movie")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the second cluster")
    parser.add_argument("--patch_size", default="56")
    parser.add_argument("--skip_serial", action="store_true", help="time local:1 and local:N only")
    options = parser.parse_args()
    shape = tuple(int(v) for v in options.shape.split(","))

    from exodeepfinder.cli import detect
    from exodeepfinder.cli._common import build_parser, execute
    from exodeepfinder.distributed import batch_folders, run_folders
    from exodeepfinder.distributed.clusters import available_cores, local_layout

    cores = available_cores()
    print(f"CPU: {cpu_name()}, {cores} cores available; load average before: {os.getloadavg()[0]:.1f}")
    argv = ["-mw", "bundled", "-ps", options.patch_size, "--gallery_size", "4"]
    with tempfile.TemporaryDirectory(prefix="cluster_throughput_") as scratch:
        scratch = Path(scratch)
        make_batch(scratch / "template", options.movies, shape)
        runs = [("serial", None)] if not options.skip_serial else []
        runs += [("local:1", "local:1"), (f"local:{options.workers}", f"local:{options.workers}")]
        wall, startup, task = {}, {}, {}
        for name, cluster in runs:
            folder = scratch / name.replace(":", "_")
            shutil.copytree(scratch / "template", folder)
            start = time.perf_counter()
            up = []
            if cluster is None:
                status = execute(detect, build_parser(detect).parse_args(["--batch", str(folder), *argv]))
                failed = status != 0
                task[name] = None
            else:
                results = run_folders(detect, build_parser(detect).parse_args(argv), batch_folders(folder),
                                      cluster=cluster, started=lambda link: up.append(time.perf_counter()))
                failed = any(r.status != "done" for r in results)
                task[name] = sum(r.seconds for r in results)
            wall[name] = time.perf_counter() - start
            startup[name] = up[0] - start if up else 0.0
            if failed:
                raise SystemExit(f"{name}: a movie failed")
        reference = scratch / runs[0][0].replace(":", "_")
        identical = all(same_outputs(reference, scratch / name.replace(":", "_")) for name, _ in runs[1:])

    voxels = options.movies * shape[0] * shape[1] * shape[2]
    print(f"\n{options.movies} movies of {' x '.join(map(str, shape))} ({voxels / 1e6:.2f} M voxels), "
          f"exodeepfinder detect -ps {options.patch_size}, bundled weights")
    print("wall: from the command's start to its end; start: until the cluster's workers are up; "
          "tasks: the movies' own times, summed (a worker's first movie includes loading PyTorch and the model)")
    print(f"{'run':<10} {'workers x threads':>17} {'wall s':>8} {'start s':>8} {'tasks s':>8} {'movies/min':>11} "
          f"{'vs local:1':>11}")
    for name, cluster in runs:
        layout = "1 x %d" % cores if cluster is None else "%d x %d" % local_layout(
            int(cluster.split(":")[1]), cores, n_tasks=options.movies)
        tasks = "-" if task[name] is None else f"{task[name]:.1f}"
        print(f"{name:<10} {layout:>17} {wall[name]:8.1f} {startup[name]:8.1f} {tasks:>8} "
              f"{60 * options.movies / wall[name]:11.2f} {wall['local:1'] / wall[name]:10.2f}x")
    print(f"outputs identical across runs: {identical}; load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

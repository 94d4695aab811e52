"""How long does `exodeepfinder report` take on 20 movies of 1000 x 400 x 300 with their events detected?

Issue 29's goal: at most 2 minutes on 2 cores. The experiment: 2 conditions x 10 cells, each a
1000-frame 400 x 300 movie (HDF5, gzip, as `simulate` and `convert_tiff_to_h5` write them) with
its events CSV beside it holding what `detect` writes (positions and measurements: the true
events of the simulator, measured with `measure_events`, stand in for the detections). To keep
the setup short, 4 movies are simulated (2 per condition: rate 0.05 and 0.1 events / µm² / min,
the second condition with 4 hotspots) and each is hard-linked into 5 cell folders; the report
reads and analyses every folder anew, so its work is that of 20 movies.

    python bench/report.py WORK_DIR [--cores 2]

prints the wall time of `exodeepfinder report --batch WORK_DIR/experiment -o WORK_DIR/report`
(run with ``taskset`` on ``--cores`` cores) and writes ``WORK_DIR/bench_report.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

SHAPE = (1000, 400, 300)


SOURCES = [("control", 0.05, 0), ("treated", 0.1, 4), ("control", 0.05, 0), ("treated", 0.1, 4)]


def setup(work: Path, n_movies: int = 20, n_sources: int = 4) -> Path:
    from exodeepfinder.events.measure import measure_events
    from exodeepfinder.io.events import write_events
    from exodeepfinder.simulation import simulate_to_folder

    experiment = work / "experiment"
    sources = []
    for k, (condition, rate, hotspots) in enumerate(SOURCES[:n_sources]):
        folder = work / "sources" / f"{condition}_{k}"
        if not (folder / "movie_events.csv").is_file():
            simulation = simulate_to_folder(folder, SHAPE, 100 + k, dict(event_rate=rate, hotspots=hotspots,
                                                                          n_spots=300, docked_fraction=0.5,
                                                                          event_spread_fraction=0.5), overwrite=True)
            events = measure_events(simulation.movie, simulation.events, offset=100)
            write_events(events, folder / "movie_events.csv")
        sources.append((condition, folder))
    for i in range(n_movies):
        condition, folder = sources[i % len(sources)]
        cell = experiment / condition / f"cell_{i + 1:02d}"
        cell.mkdir(parents=True, exist_ok=True)
        for name in ("movie.h5", "movie_events.csv"):
            if not (cell / name).exists():
                os.link(folder / name, cell / name)
    return experiment


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--n_movies", type=int, default=20, help="cells (movies) in the experiment")
    parser.add_argument("--n_sources", type=int, default=4, help="movies simulated (hard-linked into the cells)")
    args = parser.parse_args()
    start = time.time()
    experiment = setup(args.work, args.n_movies, args.n_sources)
    print(f"setup: {time.time() - start:.0f} s", flush=True)
    report = args.work / "report"
    cores = ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[:args.cores])
    command = ["taskset", "-c", cores, sys.executable, "-m", "exodeepfinder.cli.main", "report", "--batch",
               str(experiment), "-o", str(report), "--overwrite"]
    start = time.time()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.time() - start
    print(result.stdout[-2000:], result.stderr[-2000:])
    record = dict(wall_s=round(wall, 1), movies=args.n_movies, sources=args.n_sources, shape=SHAPE, cores=cores,
                  returncode=result.returncode, cpu=platform.processor() or platform.machine())
    (args.work / "bench_report.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()

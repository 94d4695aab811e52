"""Event-level quality of the segmentation tilings: events found against the simulated truth.

For each weights file and each seed, a movie is simulated (``exodeepfinder.simulation``), segmented
with the reference windows (``tiling="reference"``, float32) and with fast-tiling variants; the event
voxels are clustered as ``detect`` does (cluster radius 5, at least 10 voxels) and matched one to one
to the true events within 5 voxels. Counts are pooled over the seeds. A variant passes when its
recall is not lower than the reference windows' and its F1 is at most 0.01 lower.

The variants cut long movies into blocks of frames as the default memory budget does on 400 x 300
frames (``--block_frames`` kept frames per block), so that block borders along t are tested too:

- ``fast m=M``: the whole padded frame in one window, blocks with ``M`` frames of context on each side
  (14 = the network's reach: exact along t);
- ``fast 2x1 m=M``: the same with the frame cut into two windows along y (what a smaller budget does);
- ``fast default``: what ``segment_movie`` chooses with its default budget for this movie (one
  block for these short movies);
- ``old plan``: the same with the memory plan of before int8's memory was measured (550 bytes per
  window voxel, as float32: two windows of 252 x 352 and blocks of 34 frames on 100 x 400 x 300
  frames, against the whole frame in blocks of 50 with int8's 220 bytes);
- ``stream c=N``: the whole frame streamed through the network in chunks of ``N`` frames
  (:mod:`exodeepfinder.inference.streaming`: each chunk reuses the features of the one before, the
  network's whole reach along t, no margins);
- ``pad 25``: ``fast default`` with the reference's 25 zero pixels around a frame that int8
  computes in one window instead of ``FAST_PAD`` (4) (the same as ``fast default`` in float32).

``--precision`` sets the arithmetic of the fast variants (``fast``: float32 on AVX2 CPUs; ``int8``).
Each row also counts the voxels whose label differs from the first variant's on the same movie.

    .venv/bin/python bench/segment_quality.py --weights bundled --precision int8 --shape 100 400 300 \
        --variants "old plan" "fast default" --results plans.jsonl      # the memory plan of issue 30

    .venv/bin/python bench/segment_quality.py                          # bundled and official weights
    .venv/bin/python bench/segment_quality.py --seeds 6 --results /tmp/quality.jsonl   # resumable
    .venv/bin/python bench/segment_quality.py --generator evalsim --first_seed 900030 --seeds 18 \
        --shape 120 128 128 --weights bundled --precision int8 --variants "fast default" "stream c=16"
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

WEIGHTS = {"bundled": None,
           "official": Path(__file__).resolve().parents[1].parent / "shared/data/net_weights_FINAL.h5"}
VARIANTS = ("reference", "fast default", "fast m=14", "fast m=6", "fast m=4", "fast 2x1 m=6", "stream c=16", "old plan",
            "pad 25")


def simulate(shape, seed):
    from exodeepfinder.simulation import simulate_movie

    n_frames, height, width = shape
    area = height * width / 128 ** 2
    # About 4x the default event density, so that the pooled counts resolve F1 to ~0.01.
    return simulate_movie(shape, n_events=max(4, round(80 * area * n_frames / 200)), n_spots=round(40 * area),
                          n_flashes=round(10 * area * n_frames / 200) + 1, n_flickers=round(10 * area) + 1,
                          n_moving=round(10 * area) + 1, seed=seed)


def simulate_with(generator, shape, seed, first_seed):
    """Movie ``seed`` of ``generator``: ours (:func:`simulate`), or ``bench/evalsim`` (the independent one),
    whose movie ``first_seed + i`` is family ``i`` modulo its 9 families at its seed ``first_seed + i // 9``."""
    if generator == "ours":
        return simulate(shape, seed)
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.evalsim import FAMILIES, simulate as simulate_evalsim

    families = list(FAMILIES)
    index = seed - first_seed
    return simulate_evalsim(families[index % len(families)], first_seed + index // len(families), shape=shape)


def forced_plan(shape, block_frames, margin, windows_y=1, windows_x=1):
    """A fast-tiling plan with these windows (what a given memory budget would choose)."""
    from exodeepfinder.inference.tiling import TilePlan, block_frames as equal_blocks, fast_axis

    n_frames, height, width = shape
    return TilePlan(fast_axis(height, windows_y), fast_axis(width, windows_x),
                    equal_blocks(n_frames, block_frames), margin, 1)


#: Bytes per window voxel of the plan before int8's memory was measured (variant ``old plan``).
PREVIOUS_BYTES_PER_VOXEL = {("openvino", "int8"): 550}


def segment_variant(movie, model, variant, block_frames, precision="fast"):
    """Labels of ``movie`` with ``variant``; returns (labels, seconds)."""
    import exodeepfinder.inference.segment as segment
    import exodeepfinder.inference.tiling as tiling
    from exodeepfinder.inference.memory import BYTES_PER_VOXEL

    options = dict(precision=precision, backend="auto")
    plan = None
    saved, fast_pad = dict(BYTES_PER_VOXEL), segment.FAST_PAD
    if variant == "reference":
        options = dict(precision="fp32", tiling="reference", backend="auto")
    elif variant == "old plan":
        BYTES_PER_VOXEL.update(PREVIOUS_BYTES_PER_VOXEL)
    elif variant == "pad 25":
        segment.FAST_PAD = tiling.PAD
    elif variant.startswith("stream"):
        from exodeepfinder.inference.tiling import TilePlan, fast_axis

        chunk = int(variant.split("=")[1])
        pad = tiling.FAST_PAD if precision == "int8" else tiling.PAD
        plan = TilePlan(fast_axis(movie.shape[1], 1, pad), fast_axis(movie.shape[2], 1, pad), chunk, 0, 1,
                        stream=True)
    elif variant != "fast default":
        fields = dict(part.split("=") for part in variant.split() if "=" in part)
        split = "2x1" in variant
        plan = forced_plan(movie.shape, block_frames, int(fields["m"]), 2 if split else 1, 1)
    original = segment.plan_tiling
    if plan is not None:
        segment.plan_tiling = lambda *args, **kwargs: plan
    try:
        start = time.perf_counter()
        labels = segment.segment_movie(movie, model, **options)
        return labels, time.perf_counter() - start
    finally:
        segment.plan_tiling = original
        BYTES_PER_VOXEL.update(saved)
        segment.FAST_PAD = fast_pad


def evaluate(labels, truth):
    from exodeepfinder.events.cluster import cluster_events
    from exodeepfinder.events.evaluate import match_events

    events = cluster_events(labels, 5, min_size=10)
    return match_events(events, truth, tolerance=5).summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", nargs="+", default=list(WEIGHTS), choices=list(WEIGHTS))
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--first_seed", type=int, default=500)
    parser.add_argument("--generator", default="ours", choices=["ours", "evalsim"],
                        help="simulator of the movies: ours, or the independent bench/evalsim (never trained on; "
                             "--first_seed among its test seeds, 900000 and up)")
    parser.add_argument("--shape", type=int, nargs=3, default=[72, 150, 110], metavar=("T", "Y", "X"))
    parser.add_argument("--block_frames", type=int, default=20, help="kept frames per block of the forced variants")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--precision", default="fast", choices=["fast", "int8"],
                        help="arithmetic of the fast variants (default fast: float32 on AVX2 CPUs)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--results", type=Path, help="JSON-lines file of finished runs: reruns skip them")
    args = parser.parse_args()

    import numpy as np
    import pandas as pd
    import torch

    from exodeepfinder.events.evaluate import summarize
    from exodeepfinder import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}; movies {' x '.join(map(str, args.shape))}, "
          f"seeds {args.first_seed}..{args.first_seed + args.seeds - 1}, {args.block_frames} frames per block")
    done = {}
    if args.results and args.results.is_file():
        for line in args.results.read_text().splitlines():
            row = json.loads(line)
            done[(row["weights"], row["seed"], row["variant"], tuple(row["shape"]), row["block_frames"],
                  row.get("arithmetic", "fast"), row.get("generator", "ours"))] = row
    rows = []
    for weights in args.weights:
        model = load_model(WEIGHTS[weights], device="cpu")
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            simulation = None
            first_labels = None
            for variant in args.variants:
                key = (weights, seed, variant, tuple(args.shape), args.block_frames, args.precision, args.generator)
                if key not in done:
                    simulation = simulation or simulate_with(args.generator, tuple(args.shape), seed, args.first_seed)
                    labels, seconds = segment_variant(simulation.movie, model, variant, args.block_frames,
                                                      args.precision)
                    if first_labels is None:
                        first_labels = labels
                    row = dict(weights=weights, seed=seed, variant=variant, shape=args.shape,
                               block_frames=args.block_frames, arithmetic=args.precision, generator=args.generator,
                               seconds=seconds,
                               event_voxels=int((labels == 2).sum()),
                               differing_voxels=int((labels != first_labels).sum()),
                               differing_event_voxels=int(((labels == 2) != (first_labels == 2)).sum()),
                               **evaluate(labels, simulation.events))
                    row["labels_digest"] = int(np.bitwise_xor.reduce(np.flatnonzero(labels.ravel() == 2))) \
                        if (labels == 2).any() else 0
                    done[key] = row
                    if args.results:
                        with open(args.results, "a") as out:
                            out.write(json.dumps(row) + "\n")
                    print(f"  {weights} seed {seed} {variant}: tp {row['tp']} fp {row['fp']} fn {row['fn']}, "
                          f"{row['differing_voxels']} voxels labelled differently from {args.variants[0]!r} "
                          f"({row['differing_event_voxels']} in or out of events) ({seconds:.0f} s)", flush=True)
                rows.append(done[key])
    table = pd.DataFrame(rows)
    pooled = []
    for (weights, variant), group in table.groupby(["weights", "variant"], sort=False):
        pooled.append(dict(weights=weights, variant=variant, movies=len(group), seconds=group.seconds.sum(),
                           differing_voxels=group.get("differing_voxels", pd.Series(dtype=float)).sum(),
                           **summarize(group.tp.sum(), group.fp.sum(), group.fn.sum())))
    pooled = pd.DataFrame(pooled)
    for weights, group in pooled.groupby("weights", sort=False):
        reference = group[group.variant == "reference"]
        if not len(reference):  # against the first variant
            reference = group[group.variant == args.variants[0]]
        if len(reference):
            reference = reference.iloc[0]
            group = group.assign(d_recall=group.recall - reference.recall, d_f1=group.f1 - reference.f1)
            group["passes"] = np.where(group.variant == reference.variant, "",
                                       np.where((group.d_recall >= -1e-12) & (group.d_f1 >= -0.01), "yes", "NO"))
        print(f"\n{weights} weights, pooled over {group.movies.max()} movies:")
        print(group.drop(columns=["weights"]).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()

"""The memory budget counts every buffer of a segmentation, and a worker process runs one movie at a time."""

from __future__ import annotations

import argparse
import threading
import time
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

from exodeepfinder.distributed import batch
from exodeepfinder.inference.memory import PROCESS_MEMORY, working_memory
from exodeepfinder.inference.segment import iter_segment, prepare
from exodeepfinder.inference.tiling import NORMALISE_BYTES_PER_VOXEL, plan_memory, plan_tiling
from exodeepfinder.model.weights import load_model
from exodeepfinder.pipeline import in_memory_limit

GiB = 1024 ** 3


def test_large_frames_fit_the_budget_with_their_input_windows_and_normalisation():
    """2048 x 2048 frames under the default 3.5 GiB: the padded input windows (the block computed and the
    one read ahead) and the normalisation's float64 copies are counted, and the whole fits."""
    memory = working_memory(3.5 * GiB)
    height = width = 2048
    plan = plan_tiling((1000, height, width), "fast", memory=memory, bytes_per_voxel=560, input_itemsize=2)
    frames = plan.frames_per_block + 2 * plan.t_margin
    padded = plan.y.length * plan.x.length
    counted = (plan.window_voxels * 560 + plan.frames_per_block * padded * 40   # network window, block sums
               + frames * 2 * 4 * padded                                        # input window and read-ahead
               + frames * (2 + NORMALISE_BYTES_PER_VOXEL) * height * width)     # raw frames, normalisation
    assert plan_memory(plan, 560, 40) == counted
    assert counted <= memory
    without = plan_tiling((1000, height, width), "fast", memory=memory, bytes_per_voxel=560)
    assert plan_memory(without, 560, 40) < counted  # the old plan left these buffers out: it chose longer blocks
    assert without.frames_per_block > plan.frames_per_block


@pytest.mark.slow
def test_the_numpy_buffers_of_a_segmentation_stay_within_the_plan():
    """Peak of the arrays allocated while segmenting (tracemalloc sees NumPy's) <= what the plan counts."""
    model = load_model("bundled", device="cpu")
    movie = np.random.default_rng(0).integers(0, 4000, size=(48, 64, 64)).astype(np.uint16)
    budget = PROCESS_MEMORY + 400 * 1024 ** 2  # blocks of 16 frames: 3 blocks
    runner, plan = prepare(movie.shape, model, backend="torch", tiling="fast", max_memory=budget, itemsize=2)
    assert plan.frames_per_block < movie.shape[0]  # several blocks: the read-ahead overlaps the computation
    tracemalloc.start()
    try:
        for _ in iter_segment(movie, model, backend="torch", tiling="fast", max_memory=budget):
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    block_arrays = plan_memory(plan, 0, 40)  # everything but the network's own working memory (PyTorch's)
    window_io = plan.window_voxels * 4 * 2 + plan.window_voxels * 3 * 4  # the window given and the probabilities
    assert peak <= block_arrays + window_io, (peak, block_arrays, window_io)


def test_movies_are_read_into_memory_only_within_a_quarter_of_the_budget():
    assert in_memory_limit("1GB") == GiB // 4
    assert in_memory_limit("64GB") == 2 * GiB


def test_a_worker_process_runs_one_movie_at_a_time(monkeypatch, tmp_path):
    running, most = [0], [0]
    lock = threading.Lock()

    def run(args):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        print(f"movie of {args.batch_folder.name}")
        time.sleep(0.3)
        with lock:
            running[0] -= 1

    module = SimpleNamespace(NAME="fake", BATCH_PATHS=[], run=run, __name__="fake")
    monkeypatch.setattr(batch, "command_module", lambda name: module)
    results = {}
    threads = [threading.Thread(target=lambda name=name: results.update(
        {name: batch.process_folder("fake", argparse.Namespace(), tmp_path / name)})) for name in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
    assert {name: r.log for name, r in results.items()} == {name: f"movie of {name}\n" for name in "abc"}

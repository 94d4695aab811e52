"""Memory of reading movies, measured with tracemalloc (which sees NumPy's arrays): compressed TIFF stacks are
read frame by frame, ``detect_file`` reads a movie into memory only within its ``max_memory``, and the
segmentation's budget counts the movie so held."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import tifffile

from exodeepfinder.inference import memory as memory_module
from exodeepfinder.inference import segment as segment_module
from exodeepfinder.inference import tiling
from exodeepfinder.inference.memory import GiB, PROCESS_MEMORY, budget_beside, working_memory
from exodeepfinder.errors import InputError
from exodeepfinder.io import open_movie, write_h5
from exodeepfinder.model.weights import load_model
from exodeepfinder.pipeline import detect_file, in_memory_limit
from exodeepfinder.simulation import simulate_movie

MiB = 1024 ** 2


@pytest.fixture(scope="module")
def model():
    return load_model("bundled", device="cpu")


@pytest.fixture(scope="module")
def movie():
    return simulate_movie((48, 96, 96), n_events=3, n_spots=5, seed=3).movie  # uint16, 864 KiB


def _peak(function):
    """``(result, peak bytes allocated while it ran)``."""
    tracemalloc.start()
    try:
        result = function()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _read_a_block(path):
    """``((shape, frames 20-23), peak bytes)`` of opening the movie ``path`` and reading 4 frames."""
    def open_and_read_a_block():
        with open_movie(path) as lazy:
            return lazy.shape, lazy[20:24]

    return _peak(open_and_read_a_block)


@pytest.mark.parametrize("writer", [
    dict(compression="zlib"),
    dict(compression="lzw"),
    dict(compression="zlib", imagej=True),
])
def test_compressed_tiff_stacks_are_read_frame_by_frame(tmp_path, movie, writer):
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, movie, **writer)
    frame = movie[0].nbytes
    (shape, block), peak = _read_a_block(path)
    assert shape == movie.shape
    np.testing.assert_array_equal(block, movie[20:24])
    # the 4 frames asked for and tifffile's decoding buffers, not the 48 frames (the whole stack before)
    assert peak < 12 * frame, (peak, movie.nbytes)
    with open_movie(path) as lazy:  # every frame, and slices within frames, read right
        np.testing.assert_array_equal(lazy[:], movie)
        np.testing.assert_array_equal(lazy[-1, 5:9], movie[-1, 5:9])


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_a_stack_with_a_second_axis_of_one_plane_is_read_page_by_page(tmp_path, movie, compression):
    """A T x 1 x Y x X stack (tifffile names its axes QQYX): a movie, read page by page when compressed.

    Before, the compressed one failed (``cannot read frames ... IndexError``): its pages were
    located by axis name, and both axes are named Q.
    """
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, movie[:, None], compression=compression)
    (shape, block), peak = _read_a_block(path)
    assert shape == movie.shape
    np.testing.assert_array_equal(block, movie[20:24])
    assert peak < 12 * movie[0].nbytes, (peak, movie.nbytes)
    with open_movie(path) as lazy:
        np.testing.assert_array_equal(lazy[:], movie)


@pytest.mark.parametrize("layout", ["imagej TZYX", "shaped T x 2", "colour frames"])
def test_compressed_stacks_of_several_axes_are_refused_unread_as_uncompressed_ones(tmp_path, movie, layout):
    """A compressed stack that is no [t, y, x] movie (several planes per time point, colour frames):
    the same error as the uncompressed file, found from the file's layout before any frame is decoded.

    Before, an ImageJ T x Z stack was decoded whole to be refused, and a shaped T x 2 stack
    (axes QQYX) was taken for a movie of its first axis, reading the wrong pages.
    """
    stack = {"imagej TZYX": np.stack([movie, movie], axis=1),
             "shaped T x 2": np.stack([movie, movie[::-1]], axis=1),
             "colour frames": np.stack([movie] * 3, axis=-1)}[layout]
    options = dict(imagej=True, metadata={"axes": "TZYX"}) if layout == "imagej TZYX" else {}
    messages = []
    for compression in (None, "zlib"):
        path = tmp_path / f"{compression}.tif"
        tifffile.imwrite(path, stack, compression=compression, photometric="rgb" if layout == "colour frames"
                         else "minisblack", **options)

        def refuse():
            with pytest.raises(InputError) as refused:
                open_movie(path)
            return str(refused.value).replace(str(path), "movie.tif")

        message, peak = _peak(refuse)
        messages.append(message)
        assert peak < 4 * movie[0].nbytes, (compression, peak, stack.nbytes)  # no frame decoded
    assert messages[0] == messages[1]
    assert messages[0] == f"movie.tif: expected a stack of 2D frames [t, y, x], found shape {stack.shape}"


def test_uncompressed_tiff_stacks_stay_memory_mapped(tmp_path, movie):
    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, movie)
    with open_movie(path) as lazy:
        block, peak = _peak(lambda: np.asarray(lazy[20:24]))
        assert isinstance(lazy.source, np.memmap) or np.asarray(lazy.source).base is not None
    np.testing.assert_array_equal(block, movie[20:24])
    assert peak < 12 * movie[0].nbytes


def _cancelled_detection(path, tmp_path, model, max_memory):
    """Run ``detect_file`` until its first progress report (then cancel): the peak of NumPy's memory."""
    def stop(done, total):
        return False

    def run():
        with pytest.raises(Exception) as cancelled:  # the project's Cancelled (nothing is written)
            detect_file(path, {"segmentation": tmp_path / "seg.h5"}, model, max_memory=max_memory,
                        progress=stop, backend="torch", gallery_size=0)
        return cancelled.type.__name__

    return _peak(run)


def test_detect_file_reads_a_movie_whole_only_within_its_max_memory(tmp_path, movie, model):
    """A movie larger than a quarter of ``max_memory`` stays in its file; ``detect_file`` reads a block.

    (It used to read every movie up to 2 GiB into memory, whatever ``max_memory`` said.)"""
    long_movie = np.concatenate([movie] * 24)  # 1152 frames, 20 MiB
    path = tmp_path / "movie.h5"
    write_h5(path, long_movie)
    budget = 64 * MiB
    assert long_movie.nbytes > in_memory_limit(budget)
    name, peak = _cancelled_detection(path, tmp_path, model, budget)
    assert name == "Cancelled"
    assert peak < long_movie.nbytes, (peak, long_movie.nbytes)


def test_a_movie_held_in_memory_is_taken_from_the_segmentation_budget(tmp_path, movie, model, monkeypatch):
    """Read into memory, a movie leaves the segmentation the budget less its size: the plan and the movie
    together stay within ``max_memory`` (the plan used to get the whole budget beside the movie)."""
    path = tmp_path / "movie.h5"
    write_h5(path, movie)
    budget = PROCESS_MEMORY + 128 * MiB
    assert movie.nbytes <= in_memory_limit(budget)  # this one is read into memory
    planned = []
    plan_tiling = tiling.plan_tiling

    def recording_plan_tiling(*args, **kwargs):
        planned.append(kwargs["memory"])
        return plan_tiling(*args, **kwargs)

    monkeypatch.setattr(segment_module, "plan_tiling", recording_plan_tiling)  # as prepare() calls it
    name, peak = _cancelled_detection(path, tmp_path, model, budget)
    assert name == "Cancelled" and planned
    assert max(planned) + movie.nbytes <= working_memory(budget), (planned, movie.nbytes)
    assert peak >= movie.nbytes  # it was held in memory


def test_budget_beside():
    assert budget_beside(2 * GiB, 256 * MiB) == 2 * GiB - 256 * MiB
    assert budget_beside("1GB", 0) == GiB
    # never below what the process itself needs and the smallest working memory
    assert budget_beside(PROCESS_MEMORY + MiB, 64 * MiB) == PROCESS_MEMORY + memory_module.MIN_WORKING_MEMORY
    default = budget_beside(None, 100 * MiB)
    assert default == max(memory_module.default_max_memory() - 100 * MiB,
                          PROCESS_MEMORY + memory_module.MIN_WORKING_MEMORY)

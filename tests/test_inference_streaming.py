"""Streamed segmentation: chunks of frames that reuse the features of the chunk before instead of margins."""

import dataclasses
import math

import numpy as np
import pytest

from exodeepfinder.inference import segment as segment_module
from exodeepfinder.inference.tiling import (
    FAST_PAD, PAD, T_REACH, _stream_plan, fast_axis, plan_memory, plan_tiling, stream_chunks, stream_frames,
)
from exodeepfinder.simulation import simulate_randomized

GiB = 1024 ** 3


@pytest.mark.parametrize("n_frames, chunk", [(1, 8), (50, 16), (50, 7), (1000, 30), (3, 100)])
def test_stream_chunks_finish_every_frame_once_in_order(n_frames, chunk):
    chunks = list(stream_chunks(n_frames, chunk))
    finished = [t for first, last, _, _ in chunks for t in range(first, last)]
    assert finished == list(range(n_frames))
    starts = [start for _, _, start, _ in chunks]
    assert starts[0] == PAD - T_REACH and np.all(np.diff(starts) == chunk)
    assert all(stop - start == chunk for _, _, start, stop in chunks)
    # the last chunk reads the frames the network needs after the last one
    assert chunks[-1][3] >= PAD + n_frames + T_REACH
    assert len(chunks) == math.ceil((n_frames + 2 * T_REACH) / chunk)
    for first, last, start, _ in chunks:
        if last > first:  # outputs are the frames T_REACH before the inputs
            assert first + PAD - (start - T_REACH) >= 0 and last + PAD - (start - T_REACH) <= chunk


def test_stream_frames_computes_little_past_the_stream():
    assert stream_frames(250, 45) == 40  # 278 frames to stream: 7 x 40 = 280 (31 gives 279: within 1 %)
    assert stream_frames(250, 16) == 14  # 20 x 14 = 280, not 18 x 16 = 288
    assert stream_frames(1000, 16) == 16  # 65 x 16 = 1040, within 1 % of the least (1030)
    assert stream_frames(10, 100) == 38  # one chunk: the movie and the reach on both sides
    assert stream_frames(10, 4) == 4


def test_plan_streams_long_movies_of_large_frames_and_not_short_ones():
    int8 = dict(memory=3 * GiB, bytes_per_voxel=220, input_itemsize=2, border_pad=FAST_PAD, stream=(480, 2300))
    long = plan_tiling((1000, 512, 512), "fast", **int8)
    blocks = plan_tiling((1000, 512, 512), "fast", **{**int8, "stream": None})
    assert long.stream and long.t_margin == 0 and long.windows_per_block == 1
    assert long.y.size == long.x.size == 520
    # on the 520 x 520 frame blocks of ~30 frames compute 1.47 voxels per voxel, the stream 1.07
    assert blocks.computed_voxels(1000) / (1000 * 512 * 512) == pytest.approx(1.473, abs=0.01)
    assert long.computed_voxels(1000) / (1000 * 512 * 512) == pytest.approx(1.073, abs=0.001)
    factors = long.overlap_factors((1000, 512, 512))
    assert factors["t_margins"] == pytest.approx(1028 / 1000)
    assert math.prod(v for k, v in factors.items() if k != "computed_per_voxel") == \
        pytest.approx(factors["computed_per_voxel"])
    assert plan_memory(long, 220, 40.0) <= 3 * GiB
    assert long.describe((1000, 512, 512)) == ("the whole 520 x 520 frame streamed in chunks of 16 frames: "
                                               "1.07 computed voxels per voxel")
    assert blocks.describe((1000, 512, 512)) == ("the whole 520 x 520 frame in blocks of 30 frames (+6 of context "
                                                 "on each side): 1.47 computed voxels per voxel")
    # a movie held in one block with a short margin computes less than a stream (reach on both sides)
    short = plan_tiling((60, 400, 300), "fast", **int8)
    assert not short.stream
    # too little memory for 8 frames per chunk: blocks
    assert not plan_tiling((1000, 512, 512), "fast", **{**int8, "memory": 0.4 * GiB}).stream


def _forced_stream(frames_per_chunk):
    """plan_tiling as segmentation calls it, but streaming chunks of ``frames_per_chunk`` frames."""
    original = segment_module.plan_tiling

    def plan(shape, tiling, **kwargs):
        height, width = shape[1:]
        pad = kwargs.get("border_pad", PAD)
        streamed = _stream_plan(shape, fast_axis(height, 1, pad), fast_axis(width, 1, pad), 64 * GiB, (1, 1),
                                40.0, math.inf, None)
        return dataclasses.replace(streamed, frames_per_block=frames_per_chunk)

    return original, plan


def _exact_margins(original):
    """plan_tiling with the network's whole reach as margin (the reference's values along t) and no stream."""
    return lambda *args, **kwargs: original(*args, **{**kwargs, "t_margin": T_REACH, "stream": None,
                                                      "memory": 64 * GiB})


@pytest.fixture(scope="module")
def model():
    pytest.importorskip("openvino")
    from exodeepfinder.model.weights import BUNDLED_WEIGHTS, load_model

    return load_model(BUNDLED_WEIGHTS, "cpu")


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_stream_gives_the_values_of_the_whole_reach(model, monkeypatch, precision):
    if precision == "int8":
        pytest.importorskip("nncf")
    movie = simulate_randomized((50, 60, 44), seed=11).movie.astype(np.float32)
    movie[20] = 7  # a frame without contrast, reported once, in the block that finishes it
    original, streamed = _forced_stream(16)
    monkeypatch.setattr(segment_module, "plan_tiling", _exact_margins(original))
    reference = list(segment_module.iter_segment(movie, model, precision=precision, backend="openvino",
                                                 tiling="fast", return_scores=True))
    assert len(reference) == 1
    for chunk in (16, 7):
        monkeypatch.setattr(segment_module, "plan_tiling", _forced_stream(chunk)[1])
        calls = []
        blocks = list(segment_module.iter_segment(movie, model, precision=precision, backend="openvino",
                                                  tiling="fast", return_scores=True,
                                                  progress=lambda done, total: calls.append((done, total))))
        assert [b.start for b in blocks][0] == 0 and blocks[-1].stop == 50
        assert all(a.stop == b.start for a, b in zip(blocks, blocks[1:]))
        labels = np.concatenate([b.labels for b in blocks])
        scores = np.concatenate([b.scores for b in blocks]).astype(np.float32)
        np.testing.assert_array_equal(labels, reference[0].labels)
        np.testing.assert_allclose(scores, reference[0].scores.astype(np.float32), atol=1e-3)
        assert [t for b in blocks for t in b.no_contrast] == [20]
        n_chunks = math.ceil((50 + 2 * T_REACH) / chunk)
        assert calls[0] == (0, n_chunks) and calls[-1] == (n_chunks, n_chunks)


def test_stream_can_be_cancelled(model, monkeypatch):
    from exodeepfinder.progress import Cancelled

    monkeypatch.setattr(segment_module, "plan_tiling", _forced_stream(8)[1])
    movie = simulate_randomized((40, 32, 32), seed=12).movie
    with pytest.raises(Cancelled):
        segment_module.segment_movie(movie, model, precision="fp32", backend="openvino", tiling="fast",
                                     progress=lambda done, total: done < 2)


def test_a_graph_that_pools_along_t_is_refused():
    ov = pytest.importorskip("openvino")
    from openvino import opset13 as ops

    from exodeepfinder.inference.streaming import StreamingError, stream_graph

    movie = ops.parameter([1, 1, -1, -1, -1], ov.Type.f32)
    pooled = ops.max_pool(movie, [2, 2, 2], [1, 1, 1], [0, 0, 0], [0, 0, 0], [2, 2, 2]).output(0)
    with pytest.raises(StreamingError, match="cannot stream a pooling along t"):
        stream_graph(ov.Model([pooled], [movie]), (8, 16, 16))


def test_a_long_movie_is_streamed_and_its_events_found(model, monkeypatch):
    """Default segmentation in a small budget: the stream is chosen (blocks would recompute margins), and the events
    found against the simulated truth are those of blocks of frames."""
    pytest.importorskip("nncf")
    from exodeepfinder.events.cluster import cluster_events
    from exodeepfinder.events.evaluate import match_events
    from exodeepfinder.inference.segment import prepare
    from exodeepfinder.simulation import simulate_movie

    simulation = simulate_movie((160, 96, 96), n_events=30, n_spots=20, seed=23)
    budget = "0.62GB"
    runner, plan = prepare(simulation.movie.shape, model, precision="int8", max_memory=budget)
    assert plan.stream and plan.frames_per_block >= 8
    streamed = segment_module.segment_movie(simulation.movie, model, precision="int8", max_memory=budget)
    original = segment_module.plan_tiling
    monkeypatch.setattr(segment_module, "plan_tiling", lambda *a, **k: original(*a, **{**k, "stream": None}))
    blocks = segment_module.segment_movie(simulation.movie, model, precision="int8", max_memory=budget)
    f1 = {name: match_events(cluster_events(labels, 5, min_size=10), simulation.events).summary["f1"]
          for name, labels in (("streamed", streamed), ("blocks", blocks))}
    assert f1["streamed"] >= 0.9 and f1["streamed"] >= f1["blocks"] - 0.01, f1
    assert np.mean(streamed == blocks) >= 0.999


def test_streaming_is_checked_once_and_falls_back_to_blocks(model, monkeypatch):
    from exodeepfinder.inference import streaming
    from exodeepfinder.inference.openvino_backend import OpenVinoRunner

    assert streaming.stream_supported()  # this installation streams
    assert OpenVinoRunner(model, "fp32").stream_bytes is not None

    def broken(*args, **kwargs):
        raise TypeError("read_value() takes 2 arguments")  # as an older OpenVINO would

    monkeypatch.setattr(streaming, "_supported", None)
    monkeypatch.setattr(streaming, "stream_graph", broken)
    assert not streaming.stream_supported()
    assert OpenVinoRunner(model, "fp32").stream_bytes is None
    plan = segment_module.prepare((1000, 512, 512), model, precision="fp32", backend="openvino", tiling="fast")[1]
    assert not plan.stream


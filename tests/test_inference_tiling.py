"""Tile geometry and memory planning of the segmentation (no network)."""

import math

import numpy as np
import pytest

from exodeepfinder.inference import parse_memory
from exodeepfinder.inference.memory import GiB, PROCESS_MEMORY, default_max_memory, working_memory
from exodeepfinder.inference.tiling import (
    CROP, FAST_PAD, FAST_T_MARGIN, PAD, T_REACH, fast_axis, plan_memory, plan_tiling, reference_axis, time_blocks,
)


def coverage(axis):
    covered = np.zeros(axis.length, int)
    for i in range(len(axis.starts)):
        covered[slice(*axis.kept(i))] += 1
    return covered


@pytest.mark.parametrize("n, patch_size, starts", [
    (400, 160, (0, 106, 212, 290)),   # 450 padded: centres 80, 186, 292 and 370 (aligned to the end)
    (300, 160, (0, 106, 190)),
    (50, 160, (0,)),                  # shorter than a patch: one patch, zeros at the end
    (30, 80, (0,)),                   # padded length equal to the patch
])
def test_reference_axis_matches_reference_centres(n, patch_size, starts):
    axis = reference_axis(n, patch_size)
    assert axis.starts == starts
    assert axis.length >= n + 2 * PAD and axis.length >= patch_size
    assert coverage(axis)[PAD:PAD + n].min() >= 1


@pytest.mark.parametrize("n", [400, 300, 37, 1000])
@pytest.mark.parametrize("n_windows", [1, 2, 3, 5])
@pytest.mark.parametrize("border_pad", [PAD, FAST_PAD])
def test_fast_axis_covers_the_axis_on_the_pooling_grid(n, n_windows, border_pad):
    axis = fast_axis(n, n_windows, border_pad)
    pad = axis.offset
    assert axis.length % 4 == 0 and axis.length >= n + 2 * pad and axis.size % 4 == 0
    assert all(start % 4 == 0 for start in axis.starts)  # same pooling grid as the whole-frame window
    assert axis.starts[-1] + axis.size == axis.length
    assert coverage(axis)[pad:pad + n].min() >= 1
    if len(axis.starts) == 1:  # the whole axis in one window: only border_pad zeros at its ends
        assert axis.size == axis.length == -(-(n + 2 * border_pad) // 4) * 4 and axis.crop == pad == border_pad
    else:  # seams between windows keep CROP voxels of context on each side
        assert pad == PAD and axis.crop == CROP and len(axis.starts) <= n_windows + 1
    assert (n_windows == 1) <= (len(axis.starts) == 1)


def test_whole_frame_of_a_400_x_300_movie():
    """The whole frame with the reference's 25 zeros around it: 1.326 computed pixels per pixel; with
    int8's FAST_PAD (4): 1.047."""
    y, x = fast_axis(400, 1), fast_axis(300, 1)
    assert (y.size, x.size) == (452, 352)
    assert y.size * x.size / (400 * 300) == pytest.approx(1.326, abs=1e-3)
    y, x = fast_axis(400, 1, FAST_PAD), fast_axis(300, 1, FAST_PAD)
    assert (y.size, x.size) == (408, 308)
    assert y.size * x.size / (400 * 300) == pytest.approx(1.047, abs=1e-3)


@pytest.mark.parametrize("n_frames, per_block", [(100, 32), (30, 12), (7, 20), (1000, 44), (45, 44)])
@pytest.mark.parametrize("margin", [T_REACH, 6])
def test_time_blocks_tile_the_movie_with_equal_windows(n_frames, per_block, margin):
    blocks = list(time_blocks(n_frames, per_block, margin))
    assert blocks[0][0] == 0 and blocks[-1][1] == n_frames
    assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:]))
    lengths = {stop - start for _, _, start, stop in blocks}
    assert len(lengths) == 1, "one window shape for the whole movie"
    assert lengths.pop() <= per_block + 2 * margin
    assert len(blocks) == math.ceil(n_frames / per_block)
    for first, last, start, stop in blocks:
        assert first + PAD - start >= margin and stop - (last + PAD) == margin
        assert start >= 0 and stop <= n_frames + 2 * PAD


def test_plan_is_the_whole_frame_when_it_fits():
    plan = plan_tiling((1000, 400, 300), "fast", memory=16 * GiB, bytes_per_voxel=560)
    assert plan.windows_per_block == 1 and (plan.y.size, plan.x.size) == (452, 352)
    assert plan.t_margin == FAST_T_MARGIN
    assert plan_memory(plan, 560, 40) <= 16 * GiB
    short = plan_tiling((20, 400, 300), "fast", memory=16 * GiB, bytes_per_voxel=560)
    assert short.frames_per_block == 20 and short.window_shape == (1, 1, 20 + 2 * FAST_T_MARGIN, 452, 352)


@pytest.mark.parametrize("gib", [0.5, 1, 1.4, 2, 3.5, 8])
def test_memory_budget_bounds_the_windows_whatever_the_movie_length(gib):
    memory = gib * GiB
    plans = [plan_tiling((n, 400, 300), "fast", memory=memory, bytes_per_voxel=560) for n in (300, 1000, 100_000)]
    for plan in plans:
        assert plan_memory(plan, 560, 40) <= memory
        assert plan.frames_per_block >= 1
    # less memory: smaller windows and more computation per voxel
    if gib < 8:
        larger = plan_tiling((1000, 400, 300), "fast", memory=2 * memory, bytes_per_voxel=560)
        assert larger.computed_voxels(1000) <= plans[1].computed_voxels(1000)


def test_reference_plan_keeps_the_reference_windows_and_exact_margins():
    plan = plan_tiling((1000, 400, 300), "reference", patch_size=160, memory=2 * GiB, bytes_per_voxel=1150)
    assert plan.y == reference_axis(400, 160) and plan.x == reference_axis(300, 160)
    assert plan.t_margin == T_REACH
    assert plan_memory(plan, 1150, 40) <= 2 * GiB
    single = plan_tiling((1000, 400, 300), "reference", memory=2 * GiB, bytes_per_voxel=560, batching=False)
    assert single.batch == 1 and single.frames_per_block > plan.frames_per_block


def test_a_tiny_budget_still_gives_a_plan():
    plan = plan_tiling((50, 400, 300), "fast", memory=1, bytes_per_voxel=560)
    assert plan.frames_per_block >= 1 and plan.windows_per_block > 1


def test_max_window_voxels_limits_one_network_call():
    plan = plan_tiling((1000, 400, 300), "fast", memory=64 * GiB, bytes_per_voxel=40, max_window_voxels=5_000_000)
    assert plan.window_voxels <= 5_000_000


def test_gpu_windows_stay_within_32_bit_indexing_and_half_the_free_memory():
    from exodeepfinder.inference.backends import GPU_INDEXABLE_ELEMENTS, gpu_window_limit

    widest = 112  # channels of the U-Net's widest layer (level 2, after concatenation)
    assert gpu_window_limit(None, "bfloat16") == GPU_INDEXABLE_ELEMENTS // widest == 19_173_961
    # an H200's 140 GiB would allow windows of 125 M voxels: 32-bit indexing is the limit there
    assert gpu_window_limit(140 * GiB, "bfloat16") == 19_173_961
    # a 2 GiB card: half its free memory, each voxel's activations and buffers (600 B in bfloat16) counted twice
    assert gpu_window_limit(2 * GiB, "bfloat16") == int(0.5 * 2 * GiB / (2 * 600))
    assert gpu_window_limit(2 * GiB, "float32") == int(0.5 * 2 * GiB / (2 * 1000))
    # the 500 x 400 x 300 movie that took 20 s on an H200 in windows of 28.5 M voxels
    plan = plan_tiling((500, 400, 300), "fast", memory=64 * GiB, bytes_per_voxel=40,
                       max_window_voxels=gpu_window_limit(140 * GiB, "bfloat16"))
    assert plan.window_voxels * widest <= GPU_INDEXABLE_ELEMENTS and plan.frames_per_block >= 64


@pytest.mark.parametrize("text, expected", [
    ("2GB", 2 * GiB), ("512MB", 512 * 1024 ** 2), ("1.5G", int(1.5 * GiB)), ("800MiB", 800 * 1024 ** 2),
    ("1000000", 1_000_000), (" 3 gb ", 3 * GiB), ("64k", 64 * 1024), (4096, 4096), ("2T", 2 * 1024 ** 4),
])
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "two GB", "-1G", "0", "1.5X", "1e9", "iB", "100iB", True])
def test_parse_memory_rejects_bad_sizes(text):
    with pytest.raises(ValueError, match="max_memory"):
        parse_memory(text)


def test_default_budget_and_working_memory():
    assert 1 * GiB <= default_max_memory() <= 3.5 * GiB
    assert working_memory("2GB") == int(2 * GiB - PROCESS_MEMORY)
    assert working_memory("100MB") > 0


@pytest.mark.parametrize("shape, bytes_per_voxel", [
    ((100, 400, 300), 550), ((100, 400, 300), 220), ((250, 400, 300), 550), ((1000, 512, 512), 220),
    ((100, 128, 128), 220), ((37, 101, 77), 550),
])
def test_overlap_factors_multiply_to_the_computed_voxels_per_voxel(shape, bytes_per_voxel):
    plan = plan_tiling(shape, "fast", memory=working_memory("3.5GB"), bytes_per_voxel=bytes_per_voxel,
                       input_itemsize=2)
    factors = plan.overlap_factors(shape)
    computed = factors.pop("computed_per_voxel")
    assert computed == plan.computed_voxels(shape[0]) / math.prod(shape)
    assert math.prod(factors.values()) == pytest.approx(computed, rel=1e-12)
    assert all(value >= 1 for value in factors.values())
    pad_y, pad_x = plan.y.offset, plan.x.offset
    assert {pad_y, pad_x} <= {PAD, FAST_PAD}
    assert factors["padding"] == pytest.approx((shape[1] + 2 * pad_y) * (shape[2] + 2 * pad_x) / (shape[1] * shape[2]))


def test_the_int8_memory_plan_computes_whole_400_x_300_frames():
    """With int8's measured bytes per window voxel (220, against float32's 550) and its 4 px of border
    padding, the default budget holds the whole frame in blocks of 50 frames: 1.30 computed voxels per
    movie voxel (1.64 with 25 px; float32: two windows of 252 x 352 in blocks of 34 frames, 2.04)."""
    from exodeepfinder.inference.memory import BYTES_PER_VOXEL

    memory = working_memory("3.5GB")
    int8 = plan_tiling((100, 400, 300), "fast", memory=memory, input_itemsize=2, border_pad=FAST_PAD,
                       bytes_per_voxel=BYTES_PER_VOXEL[("openvino", "int8")])
    int8_25 = plan_tiling((100, 400, 300), "fast", memory=memory, input_itemsize=2,
                          bytes_per_voxel=BYTES_PER_VOXEL[("openvino", "int8")])
    float32 = plan_tiling((100, 400, 300), "fast", memory=memory, input_itemsize=2,
                          bytes_per_voxel=BYTES_PER_VOXEL[("openvino", "f32")])
    assert int8.windows_per_block == 1 and (int8.y.size, int8.x.size) == (408, 308)
    assert int8.frames_per_block == 50 and int8.t_margin == FAST_T_MARGIN
    assert float32.windows_per_block == 2 and float32.frames_per_block == 34
    assert int8.computed_voxels(100) / (100 * 400 * 300) == pytest.approx(1.299, abs=1e-3)
    assert int8_25.computed_voxels(100) / (100 * 400 * 300) == pytest.approx(1.644, abs=1e-3)
    assert float32.computed_voxels(100) / (100 * 400 * 300) == pytest.approx(2.040, abs=1e-3)
    assert plan_memory(int8, BYTES_PER_VOXEL[("openvino", "int8")], 40) <= memory

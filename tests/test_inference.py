"""Segmentation: normalisation, tiling, and agreement with the reference ExoDeepFinder inference."""

from pathlib import Path

import numpy as np
import pytest

from exodeepfinder.inference import iter_segment, normalize_frames, segment_movie
from exodeepfinder.simulation import simulate_movie

WEIGHTS = Path(__file__).parents[1].parent / "shared/data/net_weights_FINAL.h5"
needs_weights = pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"official weights not found at {WEIGHTS}")


def reference_segmentation(movie, model, patch_size):
    """The reference ExoDeepFinder inference, written as plainly as possible (slow; small movies only).

    Per-frame 1-99 percentile normalisation, 25 voxels of zero padding on every side, cubic
    patches of ``patch_size`` advancing by ``patch_size - 54`` with the last one aligned to the
    end, central ``patch_size - 50`` kept, overlapping predictions averaged, argmax.
    """
    import torch

    movie = np.asarray(movie, np.float64)
    frames = []
    for frame in movie:
        low, high = np.percentile(frame, 1), np.percentile(frame, 99)
        frames.append((frame - low) / (high - low) if high > low else np.zeros_like(frame))
    data = np.pad(np.array(frames, np.float32), 25)
    # an axis shorter than a patch is padded with zeros at its end up to the patch size
    data = np.pad(data, [(0, max(patch_size - n, 0)) for n in data.shape])
    step, half, keep = patch_size - 54, patch_size // 2, patch_size // 2 - 25
    centres = []
    for n in data.shape:
        axis = list(range(half, n - half, step))
        if not axis or axis[-1] < n - half:
            axis.append(n - half)
        centres.append(axis)
    scores = np.zeros((3,) + data.shape, np.float64)
    counts = np.zeros(data.shape, np.int32)
    with torch.no_grad():
        for t in centres[0]:
            for y in centres[1]:
                for x in centres[2]:
                    patch = data[t - half:t + half, y - half:y + half, x - half:x + half]
                    prediction = model(torch.from_numpy(np.ascontiguousarray(patch))[None, None])[0].numpy()
                    inner = (slice(None), slice(half - keep, half + keep))
                    inner = (slice(None),) + (slice(half - keep, half + keep),) * 3
                    box = (slice(t - keep, t + keep), slice(y - keep, y + keep), slice(x - keep, x + keep))
                    scores[(slice(None),) + box] += prediction[inner]
                    counts[box] += 1
    n_t, n_y, n_x = movie.shape
    scores = scores[:, 25:25 + n_t, 25:25 + n_y, 25:25 + n_x] / counts[25:25 + n_t, 25:25 + n_y, 25:25 + n_x]
    return np.argmax(scores, axis=0).astype(np.int8), scores


@pytest.fixture(scope="module")
def model():
    import torch

    from exodeepfinder.model.weights import load_model

    if not WEIGHTS.is_file():
        pytest.skip(f"official weights not found at {WEIGHTS}")
    torch.set_num_threads(2)
    return load_model(WEIGHTS, "cpu")


@pytest.fixture(scope="module")
def simulation():
    return simulate_movie((30, 56, 56), n_events=24, n_spots=20, seed=1)


@pytest.fixture(scope="module")
def reference(simulation, model):
    return reference_segmentation(simulation.movie, model, patch_size=80)


def event_agreement(labels, reference_labels):
    """|A ∩ B| / |A ∪ B| of the event voxels (label 2): agreement restricted to voxels either calls an event."""
    ours, theirs = labels == 2, reference_labels == 2
    return (ours & theirs).sum() / (ours | theirs).sum()


# --- normalisation ---------------------------------------------------------------------------

def test_normalize_frames_maps_percentiles_per_frame():
    rng = np.random.default_rng(0)
    movie = np.stack([rng.integers(100, 200, (40, 50)), rng.integers(1000, 5000, (40, 50))]).astype(np.uint16)
    normalized = normalize_frames(movie)
    assert normalized.dtype == np.float32 and normalized.shape == movie.shape
    for frame in normalized:
        assert np.percentile(frame, 1) == pytest.approx(0, abs=1e-5)
        assert np.percentile(frame, 99) == pytest.approx(1, abs=1e-5)
    # each frame on its own: scaling one frame does not change the other
    movie2 = movie.copy()
    movie2[1] //= 4
    np.testing.assert_array_equal(normalize_frames(movie2)[0], normalized[0])


def test_normalize_frames_constant_frame_is_zero():
    movie = np.full((2, 8, 8), 7, np.uint16)
    movie[1] = np.arange(64).reshape(8, 8)
    normalized = normalize_frames(movie)
    assert not normalized[0].any()
    assert normalized[1].max() > 1


# --- agreement with the reference inference ---------------------------------------------------

@pytest.mark.parametrize("backend", ["auto", "torch", "openvino"])
def test_fp32_matches_reference_tiling(simulation, model, reference, backend):
    reference_labels, reference_scores = reference
    labels, scores = segment_movie(simulation.movie, model, patch_size=80, precision="fp32", backend=backend,
                                   return_scores=True)
    assert labels.dtype == np.int8 and labels.shape == simulation.movie.shape
    assert scores.dtype == np.float16 and scores.shape == (30, 3, 56, 56)
    assert (labels == 2).sum() > 200, "the simulated events should be found"
    assert (labels == reference_labels).mean() >= 0.999
    assert event_agreement(labels, reference_labels) >= 0.99
    np.testing.assert_allclose(np.moveaxis(scores, 1, 0), reference_scores, atol=2e-3)


def test_fast_precision_with_reference_tiling_agrees_with_reference(simulation, model, reference):
    labels = segment_movie(simulation.movie, model, patch_size=80, precision="fast", tiling="reference")
    assert event_agreement(labels, reference[0]) >= 0.995
    assert (labels == reference[0]).mean() >= 0.999


@pytest.mark.slow
def test_default_patch_size_on_a_movie_smaller_than_a_patch(model):
    movie = simulate_movie((16, 36, 44), n_events=4, n_spots=6, seed=3).movie
    reference_labels, _ = reference_segmentation(movie, model, patch_size=160)
    labels = segment_movie(movie, model, precision="fp32")
    assert (labels == reference_labels).mean() >= 0.999
    assert (reference_labels == 2).any() and event_agreement(labels, reference_labels) >= 0.99


# --- streaming ------------------------------------------------------------------------------------

class CountingMovie:
    """A movie that records how many frames each read asks for."""

    def __init__(self, movie):
        self.movie, self.shape, self.dtype, self.reads = movie, movie.shape, movie.dtype, []

    def __getitem__(self, key):
        part = self.movie[key]
        self.reads.append(len(part))
        return part


@pytest.mark.parametrize("tiling", ["reference", "fast"])
def test_blocks_of_frames_give_the_same_result_and_bounded_reads(simulation, model, tiling):
    from exodeepfinder.inference.memory import PROCESS_MEMORY
    from exodeepfinder.inference.segment import prepare
    from exodeepfinder.inference.tiling import FAST_T_MARGIN, T_REACH, plan_memory, plan_tiling

    frames = simulation.movie[:, :30, :30]  # one y/x window
    movie = CountingMovie(frames)
    options = dict(patch_size=80, precision="fp32", tiling=tiling)
    whole = segment_movie(frames, model, return_scores=True, **options)
    # a budget that holds windows of 12 kept frames
    margin = T_REACH if tiling == "reference" else FAST_T_MARGIN
    runner, _ = prepare(frames.shape, model, **options)
    small = plan_tiling((12,) + frames.shape[1:], tiling, patch_size=80, memory=1e12,
                        bytes_per_voxel=runner.bytes_per_voxel, t_margin=margin)
    budget = PROCESS_MEMORY + plan_memory(small, runner.bytes_per_voxel, 40) + 1
    blocks = list(iter_segment(movie, model, return_scores=True, max_memory=budget, **options))
    assert [(b.start, b.stop) for b in blocks] == [(0, 10), (10, 20), (20, 30)]  # 3 equal blocks
    assert max(movie.reads) <= 10 + 2 * margin
    labels = np.concatenate([b.labels for b in blocks])
    scores = np.concatenate([b.scores for b in blocks]).astype(np.float32)
    if margin == T_REACH:  # the network's whole reach along t: exactly the same numbers
        np.testing.assert_array_equal(labels, whole[0])
        np.testing.assert_allclose(scores, whole[1].astype(np.float32), atol=1e-3)
    else:
        assert (labels == whole[0]).mean() >= 0.999
        assert event_agreement(labels, whole[0]) >= 0.95


def test_progress_reports_patches_and_can_cancel(model):
    from exodeepfinder.errors import Cancelled

    movie = simulate_movie((10, 30, 30), n_events=2, n_spots=4, seed=2).movie  # one window of 80
    calls = []
    segment_movie(movie, model, patch_size=80, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 1) and calls[-1] == (1, 1)
    with pytest.raises(Cancelled):
        segment_movie(movie, model, patch_size=80, progress=lambda done, total: False)


@pytest.mark.parametrize("patch_size", [50, 82, 0])
def test_patch_size_must_be_a_multiple_of_4(model, patch_size):
    with pytest.raises(ValueError, match="patch_size"):
        segment_movie(np.zeros((4, 8, 8), np.uint16), model, patch_size=patch_size)

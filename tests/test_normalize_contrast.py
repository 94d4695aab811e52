"""Normalisation: frames without contrast are reported (log and the segmentation file), 64-bit integers keep
their precision."""

from __future__ import annotations

import logging

import h5py
import numpy as np

from exodeepfinder.cli import detect
from exodeepfinder.inference import normalize_frames
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.simulation import simulate_movie


def test_int64_near_2_62_keeps_its_contrast():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 1000, size=(3, 16, 16)).astype(np.int64)
    big = small + np.int64(2 ** 62)
    expected = normalize_frames(small)
    assert expected.std() > 0.1
    np.testing.assert_allclose(normalize_frames(big), expected, atol=1e-6)
    np.testing.assert_allclose(normalize_frames(big.astype(np.uint64) + np.uint64(2 ** 62)), expected, atol=1e-6)
    # the whole int64 range in one frame: the difference to the minimum is exact (no overflow)
    extreme = np.array([[np.iinfo(np.int64).min, 0], [0, np.iinfo(np.int64).max]] * 50, np.int64)
    out = normalize_frames(extreme)
    assert np.isfinite(out).all() and out.min() == 0 and out.max() == 1


def test_frames_without_contrast_are_listed():
    movie = np.random.default_rng(1).normal(100, 10, size=(4, 20, 20)).astype(np.float32)
    movie[1] = 7                       # constant
    movie[3] = 0
    movie[3, 0, :3] = 500              # 3 of 400 pixels bright: 99th percentile is still 0
    blank = []
    out = normalize_frames(movie, no_contrast=blank)
    assert blank == [1, 3]
    assert not out[3].any() and out[0].std() > 0.1


def test_detect_warns_and_records_blank_frames_in_the_segmentation(tmp_path, capsys):
    movie = simulate_movie((10, 48, 48), n_events=2, n_spots=3, seed=4).movie
    movie[2] = movie[2].min()
    movie[6] = 0
    movie[6, 10, 10] = 1000
    write_h5(tmp_path / "movie.h5", movie)
    assert detect.main([str(tmp_path / "movie.h5"), "-mw", "bundled", "-ps", "56", "--gallery_size", "0",
                        "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert ("warning: 2 of 10 frame(s) without contrast (1st and 99th percentiles equal) were normalised to zeros: "
            "the network sees nothing there (t=2, 6)") in err
    with h5py.File(tmp_path / "movie_segmentation.h5") as handle:
        assert list(handle.attrs["frames_without_contrast"]) == [2, 6]


def test_a_movie_with_contrast_everywhere_says_nothing(caplog):
    from exodeepfinder.inference import segment_movie
    from exodeepfinder.model.weights import load_model

    movie = simulate_movie((6, 32, 32), n_events=1, n_spots=2, seed=5).movie
    with caplog.at_level(logging.WARNING):
        segment_movie(movie, load_model("bundled", device="cpu"), patch_size=56)
    assert "without contrast" not in caplog.text

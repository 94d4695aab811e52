"""`exodeepfinder simulate`: the movie folder layout, the truth files, and the training chain on them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from exodeepfinder.cli import main as cli_main
from exodeepfinder.cli import simulate as cli_simulate
from exodeepfinder.io.events import read_events
from exodeepfinder.io.h5 import read_h5
from exodeepfinder.io.movie import read_movie
from exodeepfinder.simulation import simulate_movie

SMALL = ["--shape", "30", "64", "64", "--n_events", "4", "--n_spots", "6"]


def test_simulate_one_movie_folder(tmp_path, capsys):
    out = tmp_path / "cell"
    assert cli_simulate.main(["-o", str(out), *SMALL, "--seed", "3", "--tiff", "--event_tau", "2", "4"]) == 0
    assert "4 events" in capsys.readouterr().out
    names = sorted(p.name for p in out.iterdir())
    assert names == ["expert_annotation.csv", "expert_annotation.xml", "movie.h5", "simulation.json",
                     "spots.csv", "tiff"]
    movie = read_h5(out / "movie.h5")
    expected = simulate_movie((30, 64, 64), n_events=4, n_spots=6, event_tau=(2.0, 4.0), seed=3)
    assert movie.dtype == np.uint16 and np.array_equal(movie, expected.movie)  # same simulator, same seed
    frames = sorted(p.name for p in (out / "tiff").iterdir())
    assert frames[0] == "frame_0001.tif" and frames[-1] == "frame_0030.tif" and len(frames) == 30
    assert np.array_equal(read_movie(out / "tiff"), movie)
    for name in ("expert_annotation.xml", "expert_annotation.csv"):
        events = read_events(out / name)
        assert len(events) == 4 and (events.class_label == 1).all()
        np.testing.assert_allclose(events[["t", "y", "x"]], expected.events[["t", "y", "x"]], atol=1e-3)
    spots = pd.read_csv(out / "spots.csv")
    assert len(spots) == len(expected.spots) and set(spots.columns) >= {"t", "y", "x", "spot_id", "kind"}
    params = json.loads((out / "simulation.json").read_text())
    assert params["seed"] == 3 and params["event_tau"] == [2.0, 4.0] and params["shape"] == [30, 64, 64]


def test_existing_outputs_need_overwrite(tmp_path, capsys):
    out = tmp_path / "cell"
    assert cli_simulate.main(["-o", str(out), *SMALL]) == 0
    before = (out / "movie.h5").read_bytes()
    assert cli_simulate.main(["-o", str(out), *SMALL, "--seed", "9"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    assert (out / "movie.h5").read_bytes() == before
    assert cli_simulate.main(["-o", str(out), *SMALL, "--seed", "9", "--overwrite"]) == 0
    assert (out / "movie.h5").read_bytes() != before


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    assert cli_simulate.main(["-o", str(tmp_path / "x"), "--shape", "10", "8", "8"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "too small" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
    assert cli_simulate.main(["-o", str(tmp_path / "y"), "--n_movies", "0"]) == 2


def test_several_movies_feed_the_training_chain(tmp_path, capsys):
    movies = tmp_path / "movies"
    assert cli_main.main(["simulate", "-o", str(movies), *SMALL, "--n_movies", "3", "--seed", "10"]) == 0
    folders = sorted(p.name for p in movies.iterdir())
    assert folders == ["movie_01", "movie_02", "movie_03"]
    first, second = (read_h5(movies / f / "movie.h5") for f in folders[:2])
    assert not np.array_equal(first, second)
    # the preparation chain of the training set runs on the simulated folders as on users' movies
    assert cli_main.main(["generate_segmentation", "--batch", str(movies)]) == 0
    assert cli_main.main(["detect_spots", "--batch", str(movies)]) == 0
    assert cli_main.main(["merge_detector_expert", "--batch", str(movies)]) == 0
    assert cli_main.main(["structure_training_dataset", "-i", str(movies), "-o", str(tmp_path / "dataset"),
                          "--seed", "0"]) == 0
    written = sorted(p.name for p in (tmp_path / "dataset").rglob("*") if p.is_file() or p.is_symlink())
    assert sum(name.endswith("_target.h5") for name in written) == 3
    for folder in folders:
        merged = read_events(movies / folder / "merged_annotation.xml")
        truth = read_events(movies / folder / "expert_annotation.xml")
        assert (merged.class_label == 2).sum() == len(truth) == 4

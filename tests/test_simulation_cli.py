"""`exodeepfinder simulate`: the movie folder layout, the truth files, and the training chain on them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

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
    assert names == ["cell_mask.tif", "expert_annotation.csv", "expert_annotation.xml", "movie.h5",
                     "simulation.json", "spots.csv", "tiff"]
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


def test_randomize_writes_the_drawn_parameters(tmp_path, capsys):
    from exodeepfinder.simulation import DEFAULT_RANGES, simulate_randomized

    out = tmp_path / "movies"
    argv = ["-o", str(out), "--shape", "30", "64", "64", "--n_movies", "2", "--seed", "7", "--randomize",
            "--range", "event_amplitude", "100", "200", "--range", "camera", "scmos", "emccd", "--range", "drift", "0",
            "--n_events", "3"]
    assert cli_simulate.main(argv) == 0
    assert "drawn:" in capsys.readouterr().out
    records = [json.loads((out / name / "simulation.json").read_text()) for name in ("movie_01", "movie_02")]
    for seed, record in zip((7, 8), records):
        assert record["randomized"] is True and record["seed"] == seed
        assert set(record["settings"]) == set(DEFAULT_RANGES)
        assert 100 <= record["event_amplitude"] <= 200 and record["camera"] in ("scmos", "emccd")
        assert record["drift"] == 0 and record["n_events"] == 3  # a flag given on the command line stays fixed
        assert record["ranges"]["event_amplitude"] == [100, 200]
        for name, span in DEFAULT_RANGES.items():
            if name not in ("event_amplitude", "camera", "drift"):
                assert record["ranges"][name] == list(span)
    assert records[0]["settings"] != records[1]["settings"]
    # the record remakes the movie
    again = simulate_randomized((30, 64, 64), 7, {"event_amplitude": (100, 200), "camera": ("scmos", "emccd"),
                                                  "drift": 0}, n_events=3)
    assert np.array_equal(read_h5(out / "movie_01" / "movie.h5"), again.movie)
    assert len(read_events(out / "movie_01" / "expert_annotation.xml")) == 3


def test_range_errors_are_one_line(tmp_path, capsys):
    for argv, message in [(["--range", "drift", "0", "1"], "--range: needs --randomize"),
                          (["--randomize", "--range", "drift", "fast"], "--range drift: expected numbers"),
                          (["--randomize", "--range", "brightness", "1", "2"], "--range: unknown setting"),
                          (["--randomize", "--range", "camera", "ccd"], "--range: camera must be among"),
                          (["--event_tau", "3", "1"], "--event_tau: expected 0 < low <= high")]:
        assert cli_simulate.main(["-o", str(tmp_path / "x"), "--shape", "10", "32", "32", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()


def test_new_parameters_are_flags(tmp_path):
    out = tmp_path / "cell"
    argv = ["-o", str(out), *SMALL, "--camera", "emccd", "--hot_pixels", "4", "--drift", "0.1",
            "--docked_fraction", "1", "--n_arriving_leaving", "3"]
    assert cli_simulate.main(argv) == 0
    record = json.loads((out / "simulation.json").read_text())
    assert record["camera"] == "emccd" and len(record["hot_pixels"]) == 4 and record["randomized"] is False
    assert np.hypot(*record["drift_per_frame"]) == pytest.approx(0.1)
    events = pd.read_csv(out / "expert_annotation.csv")
    assert (events.kind == "docked_then_fused").all()
    assert "arriving_leaving" in set(pd.read_csv(out / "spots.csv").kind)


def test_folder_writer_is_importable_from_the_command_module():
    from exodeepfinder.cli.simulate import simulate_to_folder
    from exodeepfinder.simulation import simulate_to_folder as library

    assert simulate_to_folder is library

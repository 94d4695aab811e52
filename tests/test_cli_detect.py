"""`exodeepfinder detect`: one command from a movie (HDF5, TIFF folder, --batch) to events, measurements, pictures."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import tifffile

from exodeepfinder.cli import detect
from exodeepfinder.events.evaluate import match_events
from exodeepfinder.io.events import read_events
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.simulation import simulate_movie

SHAPE = (48, 64, 64)


@pytest.fixture(scope="module")
def simulation():
    return simulate_movie(SHAPE, n_events=6, n_spots=10, n_flashes=0, n_flickers=0, n_moving=0, seed=21)


@pytest.fixture
def movie_file(tmp_path, simulation):
    path = tmp_path / "cell" / "movie.h5"
    path.parent.mkdir()
    write_h5(path, simulation.movie)
    return path


def is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_detect_h5_movie(movie_file, simulation, network_weights, capsys):
    status = detect.main([str(movie_file), "-mw", str(network_weights), "--offset", "100", "--save_scores"])
    assert status == 0
    out = capsys.readouterr().out
    assert f"weights: {network_weights} (given file)" in out
    folder = movie_file.parent
    with h5py.File(folder / "movie_segmentation.h5") as handle:
        labels, scores = handle["dataset"][()], handle["scores"][()]
    assert labels.dtype == np.int8 and labels.shape == SHAPE and scores.shape == (SHAPE[0], 3) + SHAPE[1:]
    assert (labels == 2).any()
    events = pd.read_csv(folder / "movie_events.csv")
    for column in ("x", "y", "z", "score", "cluster_size", "peak_dff", "decay_tau", "spot_sigma", "measure_note"):
        assert column in events.columns
    assert (events.cluster_size >= detect.DEFAULT_MIN_SIZE).all() and events.score.between(0, 1).all()
    xml = read_events(folder / "movie_events.xml")
    assert len(xml) == len(events) and "score" in xml.columns
    # the weights find the simulated events (the official ones place them about 1 frame late)
    summary = match_events(read_events(folder / "movie_events.csv"), simulation.events, tolerance=5).summary
    assert summary["recall"] >= 5 / 6
    assert is_png(folder / "movie_events.png") and is_png(folder / "movie_gallery.png")
    assert f"{len(events)} events" in out


def test_detect_units_and_provenance(movie_file, network_weights, capsys):
    import json

    from exodeepfinder.model.download import sha256sum

    assert detect.main([str(movie_file), "-mw", str(network_weights), "--gallery_size", "0"]) == 0
    err = capsys.readouterr().err  # the HDF5 file has no units: a warning names each flag
    assert "give --pixel_size" in err and "give --frame_interval" in err
    assert "t_s" not in pd.read_csv(movie_file.parent / "movie_events.csv").columns
    record = json.loads((movie_file.parent / "movie_run.json").read_text())
    assert record["command"] == "detect" and record["weights_sha256"] == sha256sum(network_weights)
    assert record["pixel_size_um"] is None and record["parameters"]["min_size"] == detect.DEFAULT_MIN_SIZE
    assert {"version", "cpu", "date", "python"} <= set(record)
    assert detect.main([str(movie_file), "-mw", str(network_weights), "--gallery_size", "0", "--overwrite",
                        "--pixel_size", "0.1", "--frame_interval", "0.05"]) == 0
    assert "--pixel_size" not in capsys.readouterr().err
    events = pd.read_csv(movie_file.parent / "movie_events.csv")
    assert np.allclose(events["t_s"], events["z"] * 0.05) and np.allclose(events["x_um"], events["x"] * 0.1)
    assert json.loads((movie_file.parent / "movie_run.json").read_text())["frame_interval_s"] == 0.05


def test_detect_tiff_folder_and_existing_outputs(tmp_path, simulation, network_weights, capsys):
    frames = tmp_path / "cell2" / "tiff"
    frames.mkdir(parents=True)
    for i, frame in enumerate(simulation.movie, start=1):
        tifffile.imwrite(frames / f"img_{i:03d}.tif", frame)
    args = [str(frames), "-mw", str(network_weights), "--gallery_size", "0", "-s", "{movie.parent}/seg.h5"]
    assert detect.main(args) == 0
    produced = sorted(p.name for p in frames.parent.iterdir())
    assert produced == ["seg.h5", "tiff", "tiff_events.csv", "tiff_events.png", "tiff_events.xml", "tiff_run.json"]
    with h5py.File(frames.parent / "seg.h5") as handle:  # scores only with --save_scores
        assert list(handle) == ["dataset"] and handle["dataset"].shape == SHAPE
    before = (frames.parent / "tiff_events.csv").read_bytes()
    capsys.readouterr()
    assert detect.main(args) == 2  # outputs exist: error before any work, files untouched
    err = capsys.readouterr().err
    assert "already exists" in err and len(err.strip().splitlines()) == 1
    assert (frames.parent / "tiff_events.csv").read_bytes() == before


def test_detect_batch(tmp_path, simulation, network_weights, capsys):
    small = simulate_movie((32, 48, 48), n_events=3, n_spots=4, seed=5)
    for name, movie in (("a", simulation.movie[:32, :48, :48]), ("b", small.movie)):
        write_h5(tmp_path / "batch" / name / "movie.h5", movie)
    (tmp_path / "batch" / "c").mkdir()  # no movie: reported and skipped
    status = detect.main(["--batch", str(tmp_path / "batch"), "-mw", str(network_weights), "--gallery_size", "0"])
    captured = capsys.readouterr()
    assert status == 2  # one folder skipped
    assert "2 of 3 folder(s) done; skipped: c" in captured.out
    assert captured.out.count(f"weights: {network_weights}") == 2  # said for each movie
    for name in ("a", "b"):
        assert (tmp_path / "batch" / name / "movie_events.csv").is_file()


def test_detect_input_errors(tmp_path, capsys):
    assert detect.main([]) == 2
    assert "give at least one movie" in capsys.readouterr().err
    assert detect.main([str(tmp_path / "missing.h5")]) == 2
    assert "missing.h5" in capsys.readouterr().err
    movie = tmp_path / "m.h5"
    write_h5(movie, np.zeros((8, 32, 32), np.uint16))
    assert detect.main([str(movie), "-mw", str(tmp_path / "none.h5")]) == 2
    assert "weights file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses it before any work
        detect.main([str(movie), "--patch_size", "50"])
    assert exit_info.value.code == 2 and "--patch_size" in capsys.readouterr().err


def test_detect_publishes_all_its_outputs_or_none(tmp_path, network_weights, monkeypatch, capsys):
    """If one output cannot be published (here: another run wrote the gallery meanwhile), none is left."""
    import exodeepfinder.plots as plots

    movie = write_h5(tmp_path / "cell" / "movie.h5", simulate_movie((24, 32, 32), n_events=2, seed=3).movie)
    rival = movie.parent / "movie_gallery.png"
    real_gallery = plots.gallery_figure

    def gallery_while_another_run_finishes(*args, **kwargs):
        rival.write_bytes(b"the other run's gallery")
        return real_gallery(*args, **kwargs)

    monkeypatch.setattr(plots, "gallery_figure", gallery_while_another_run_finishes)
    assert detect.main([str(movie), "-mw", str(network_weights), "-ps", "56", "--min_size", "1"]) == 2
    assert capsys.readouterr().err == f"error: {rival}: already exists (use --overwrite to replace it)\n"
    assert sorted(p.name for p in movie.parent.iterdir()) == ["movie.h5", "movie_gallery.png"]
    assert rival.read_bytes() == b"the other run's gallery"

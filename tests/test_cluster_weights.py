"""On a cluster every movie runs the model the user chose: resolved once on the client, checked on each worker."""

from __future__ import annotations

import logging
import os
import shutil

import h5py
import numpy as np
import pytest

from exodeepfinder.cli import detect
from exodeepfinder.cli._common import build_parser
from exodeepfinder.distributed.batch import WeightsPin, pin_weights, process_folder
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.model.arrays import UNetWeights
from exodeepfinder.model.keras_weights import read_unet_arrays, save_keras_weights
from exodeepfinder.model.weights import BUNDLED_WEIGHTS
from exodeepfinder.simulation import simulate_movie

distributed = pytest.importorskip("distributed")


def movie_folders(folder, n_movies=1, shape=(12, 48, 48)):
    for i in range(n_movies):
        simulation = simulate_movie(shape, n_events=3, n_spots=3, n_flashes=0, n_flickers=0, n_moving=0, seed=90 + i)
        (folder / f"cell{i}").mkdir(parents=True)
        write_h5(folder / f"cell{i}" / "movie.h5", simulation.movie)
    return folder


def other_weights(path):
    """The bundled weights with the last layer's event bias raised: another model, same shapes."""
    arrays = read_unet_arrays(BUNDLED_WEIGHTS)
    weight, bias = arrays[-1]
    bias = bias.copy()
    bias[2] += 3.0
    arrays[-1] = (weight, bias)
    return save_keras_weights(UNetWeights(arrays), path)


def test_a_worker_that_sees_other_weights_fails_the_folder_naming_itself(tmp_path):
    folder = movie_folders(tmp_path / "movies")
    args = build_parser(detect).parse_args(["--batch", str(folder), "-mw", "bundled", "-ps", "56"])
    pin = pin_weights(args)
    assert pin.path == str(BUNDLED_WEIGHTS.absolute()) and len(pin.sha256) == 64
    wrong = WeightsPin(pin.path, "0" * 64, pin.source)
    result = process_folder("detect", args, folder / "cell0", weights=wrong)
    assert result.status == "failed"
    assert f"process {os.getpid()} on " in result.error and "differs from the client's" in result.error
    assert "there, 000000000000... on the client" in result.error
    gone = WeightsPin(str(tmp_path / "elsewhere.h5"), pin.sha256, pin.source)
    result = process_folder("detect", args, folder / "cell0", weights=gone)
    assert result.status == "failed" and "elsewhere.h5 unreadable there" in result.error
    assert sorted(p.name for p in (folder / "cell0").iterdir()) == ["movie.h5"]


@pytest.fixture
def scheduler_elsewhere(tmp_path_factory):
    """A scheduler whose worker process started in another folder, without the client's environment."""
    start = tmp_path_factory.mktemp("worker_home")
    here = os.getcwd()
    os.chdir(start)
    try:
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=logging.ERROR)
    finally:
        os.chdir(here)
    with cluster:
        yield cluster.scheduler_address


def test_the_client_weights_and_relative_paths_run_on_the_workers(tmp_path, monkeypatch, scheduler_elsewhere,
                                                                   capsys):
    """$EXODEEPFINDER_WEIGHTS and relative paths of the client, which the worker does not have, are what runs."""
    monkeypatch.chdir(tmp_path)
    other_weights(tmp_path / "mine.h5")
    monkeypatch.setenv("EXODEEPFINDER_WEIGHTS", "mine.h5")
    movie_folders(tmp_path / "serial")
    shutil.copytree(tmp_path / "serial", tmp_path / "parallel")
    options = ["-ps", "56", "--gallery_size", "0", "--device", "cpu", "--backend", "torch"]
    assert detect.main(["--batch", "serial", *options]) == 0
    capsys.readouterr()
    assert detect.main(["--batch", "parallel", "--cluster", scheduler_elsewhere, *options]) == 0
    out = capsys.readouterr().out
    assert "[cell0]" in out and f"weights: {tmp_path / 'mine.h5'} " in out and "1 movie(s): 1 done" in out
    with h5py.File(tmp_path / "serial/cell0/movie_segmentation.h5") as a, \
            h5py.File(tmp_path / "parallel/cell0/movie_segmentation.h5") as b:
        np.testing.assert_array_equal(a["dataset"][()], b["dataset"][()])
    assert ((tmp_path / "serial/cell0/movie_events.csv").read_bytes()
            == (tmp_path / "parallel/cell0/movie_events.csv").read_bytes())

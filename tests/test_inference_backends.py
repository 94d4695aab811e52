"""Inference engines (PyTorch, OpenVINO), the fast tiling's events, and the OpenVINO model cache."""

import sys

import numpy as np
import pytest

from exodeepfinder.errors import InputError
from exodeepfinder.events.cluster import cluster_events
from exodeepfinder.events.evaluate import match_events
from exodeepfinder.inference import BACKENDS, TILINGS, iter_segment, segment_movie
from exodeepfinder.simulation import simulate_movie

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def model():
    import torch

    from exodeepfinder.model.weights import BUNDLED_WEIGHTS, load_unet

    torch.set_num_threads(2)
    return load_unet(BUNDLED_WEIGHTS, "cpu")[0]


@pytest.fixture(scope="module")
def simulation():
    return simulate_movie((48, 96, 96), n_events=14, n_spots=12, seed=11)


def events_of(labels):
    return cluster_events(labels, 5, min_size=10)


def test_constants():
    assert BACKENDS == ("auto", "torch", "openvino") and TILINGS == ("fast", "reference")


def test_fast_tiling_finds_the_simulated_events(model, simulation):
    labels = segment_movie(simulation.movie, model)  # defaults: fast precision, fast tiling, auto backend
    summary = match_events(events_of(labels), simulation.events).summary
    assert summary["recall"] >= 0.9 and summary["f1"] >= 0.9, summary


def test_openvino_and_torch_agree(model):
    movie = simulate_movie((24, 64, 64), n_events=8, n_spots=6, seed=12).movie
    by_backend = {backend: segment_movie(movie, model, backend=backend) for backend in ("torch", "openvino")}
    torch_labels, openvino_labels = by_backend["torch"], by_backend["openvino"]
    assert (torch_labels == 2).sum() > 150
    assert (torch_labels == openvino_labels).mean() >= 0.999
    both, either = ((torch_labels == 2) & (openvino_labels == 2)).sum(), ((torch_labels == 2) | (openvino_labels == 2)).sum()
    assert both / either >= 0.98
    matching = match_events(events_of(openvino_labels), events_of(torch_labels), tolerance=1)
    assert matching.summary["f1"] >= 0.99


def test_bad_backend_and_tiling_names(model):
    movie = np.zeros((4, 16, 16), np.uint16)
    with pytest.raises(ValueError, match="backend"):
        segment_movie(movie, model, backend="tensorflow")
    with pytest.raises(ValueError, match="tiling"):
        segment_movie(movie, model, tiling="huge")
    with pytest.raises(ValueError, match="max_memory"):
        segment_movie(movie, model, max_memory="lots")


def test_openvino_runs_on_the_cpu_only():
    import torch

    from exodeepfinder.inference.backends import select_backend

    assert select_backend("auto", torch.device("cpu")) == "openvino"
    assert select_backend("auto", torch.device("cuda")) == "torch"
    assert select_backend("torch", torch.device("cpu")) == "torch"
    with pytest.raises(InputError, match="backend='openvino'.*cuda"):
        select_backend("openvino", torch.device("cuda"))


def test_auto_falls_back_to_torch_without_openvino(model, monkeypatch):
    import torch

    from exodeepfinder.inference.backends import select_backend

    monkeypatch.setitem(sys.modules, "openvino", None)  # "import openvino" now raises ImportError
    assert select_backend("auto", torch.device("cpu")) == "torch"
    movie = simulate_movie((8, 24, 24), n_events=1, n_spots=2, seed=3).movie
    assert segment_movie(movie, model).shape == movie.shape
    with pytest.raises(InputError, match="pip install openvino"):
        segment_movie(movie, model, backend="openvino")


def test_converted_model_is_cached_in_memory_and_on_disk(model, monkeypatch, tmp_path):
    import openvino

    from exodeepfinder.inference import openvino_backend

    monkeypatch.setenv("EXODEEPFINDER_CACHE", str(tmp_path))
    monkeypatch.setattr(openvino_backend, "_core", None)  # a Core whose blob cache is in tmp_path
    openvino_backend.clear_cache()
    conversions = []
    convert = openvino.convert_model
    monkeypatch.setattr(openvino, "convert_model", lambda *a, **k: conversions.append(1) or convert(*a, **k))
    movie = simulate_movie((10, 30, 30), n_events=2, n_spots=3, seed=5).movie
    first = segment_movie(movie, model, backend="openvino")
    second = segment_movie(movie, model, backend="openvino")
    assert len(conversions) == 1, "the second segmentation reuses the converted and compiled model"
    np.testing.assert_array_equal(first, second)
    assert list((tmp_path / "openvino").glob("unet-*.xml")), "converted model saved as OpenVINO IR"
    assert list((tmp_path / "openvino" / "compiled").iterdir()), "OpenVINO's compiled-blob cache"
    openvino_backend.clear_cache()  # a new process: the IR on disk spares the conversion
    third = segment_movie(movie, model, backend="openvino")
    assert len(conversions) == 1
    np.testing.assert_array_equal(first, third)
    openvino_backend.clear_cache()


def test_cancel_stops_between_windows(model):
    from exodeepfinder.errors import Cancelled

    movie = simulate_movie((40, 40, 40), n_events=2, n_spots=4, seed=2).movie
    calls = []

    def cancel_after_first(done, total):
        calls.append((done, total))
        return done == 0

    budget = 700 * 1024 ** 2  # small windows: several blocks
    with pytest.raises(Cancelled):
        list(iter_segment(movie, model, max_memory=budget, progress=cancel_after_first))
    assert calls[0][0] == 0 and len(calls) == 2

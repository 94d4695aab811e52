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

    from exodeepfinder.model.weights import BUNDLED_WEIGHTS, load_model

    torch.set_num_threads(2)
    return load_model(BUNDLED_WEIGHTS, "cpu")


@pytest.fixture(scope="module")
def simulation():
    return simulate_movie((48, 96, 96), n_events=14, n_spots=12, seed=11)


def events_of(labels):
    return cluster_events(labels, 5, min_size=10)


def test_constants():
    assert BACKENDS == ("auto", "torch", "openvino") and TILINGS == ("fast", "reference")


def test_fast_tiling_finds_the_simulated_events(model, simulation):
    labels = segment_movie(simulation.movie, model)  # defaults: auto precision (int8 on a CPU), fast tiling
    summary = match_events(events_of(labels), simulation.events).summary
    assert summary["recall"] >= 0.9 and summary["f1"] >= 0.9, summary


def test_openvino_and_torch_agree(model):
    movie = simulate_movie((24, 64, 64), n_events=8, n_spots=6, seed=12).movie
    by_backend = {backend: segment_movie(movie, model, backend=backend, precision="fast")
                  for backend in ("torch", "openvino")}
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


def test_graph_is_built_once_per_weights_and_compiled_blobs_cached_on_disk(model, monkeypatch, tmp_path):
    from exodeepfinder.inference import openvino_backend, openvino_graph, openvino_runtime
    from exodeepfinder.model.arrays import UNetWeights, unet_arrays

    monkeypatch.setenv("EXODEEPFINDER_CACHE", str(tmp_path))
    monkeypatch.setattr(openvino_runtime, "_core", None)  # a Core whose blob cache is in tmp_path
    openvino_backend.clear_cache()
    builds = []
    build = openvino_graph.unet_graph
    monkeypatch.setattr(openvino_graph, "unet_graph", lambda *a, **k: builds.append(1) or build(*a, **k))
    movie = simulate_movie((10, 30, 30), n_events=2, n_spots=3, seed=5).movie
    first = segment_movie(movie, model, backend="openvino", precision="fast")
    second = segment_movie(movie, model, backend="openvino", precision="fast")
    assert len(builds) == 1, "the second segmentation reuses the graph and the compiled model"
    np.testing.assert_array_equal(first, second)
    blobs = sorted((tmp_path / "openvino" / "compiled").iterdir())
    assert blobs, "OpenVINO's compiled-blob cache is on disk"
    # the same weights as arrays (what load_model gives without PyTorch): the same cached graph
    assert openvino_backend.weights_digest(UNetWeights(unet_arrays(model))) == openvino_backend.weights_digest(model)
    np.testing.assert_array_equal(segment_movie(movie, UNetWeights(unet_arrays(model)), precision="fast"), first)
    assert len(builds) == 1
    # other weights: another graph
    halved = UNetWeights([(weight, bias * 0.5) for weight, bias in unet_arrays(model)])
    segment_movie(movie, halved, backend="openvino", precision="fast")
    assert len(builds) == 2
    blobs = sorted((tmp_path / "openvino" / "compiled").iterdir())
    openvino_backend.clear_cache()  # a new process: the graph is built again, its compiled blob is reused
    third = segment_movie(movie, model, backend="openvino", precision="fast")
    assert len(builds) == 3
    np.testing.assert_array_equal(first, third)
    assert sorted((tmp_path / "openvino" / "compiled").iterdir()) == blobs, "no new blob for a shape compiled before"
    openvino_backend.clear_cache()


@pytest.mark.parametrize("weights", ["bundled", "official"])
def test_openvino_graph_computes_the_torch_network(weights, request):
    """The graph built from the arrays (no PyTorch) gives the PyTorch U-Net's probabilities, in float32."""
    import openvino
    import torch

    from exodeepfinder.inference.normalize import normalize_frames
    from exodeepfinder.inference.openvino_graph import unet_graph
    from exodeepfinder.model.arrays import unet_arrays
    from exodeepfinder.model.weights import load_model

    network = load_model(request.getfixturevalue("official_weights") if weights == "official" else "bundled", "cpu")
    movie = simulate_movie((24, 64, 56), n_events=8, n_spots=6, seed=12).movie
    windows = normalize_frames(movie)[None, None]
    with torch.no_grad():
        expected = network(torch.from_numpy(windows)).numpy()
    compiled = openvino.Core().compile_model(unet_graph(unet_arrays(network)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    probabilities = compiled({0: windows})[0]
    assert probabilities.shape == expected.shape == (1, 3, 24, 64, 56)
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=2e-4)
    assert (probabilities.argmax(1) == expected.argmax(1)).mean() >= 0.9999
    assert (expected.argmax(1) == 2).sum() > 50  # events in the window: the test sees all three classes
    logits = openvino.Core().compile_model(unet_graph(unet_arrays(network), softmax=False), "CPU",
                                           {"INFERENCE_PRECISION_HINT": "f32"})({0: windows})[0]
    network.softmax = False
    with torch.no_grad():
        np.testing.assert_allclose(logits, network(torch.from_numpy(windows)).numpy(), rtol=1e-4, atol=2e-3)


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


@pytest.mark.slow  # the quick check stays under 10 minutes; CI runs it
def test_weight_arrays_without_torch_are_the_networks(tmp_path):
    """UNetWeights (what load_model gives without PyTorch) holds the UNet's layers and weights."""
    import torch

    from exodeepfinder.model import arrays, unet
    from exodeepfinder.model.keras_weights import read_unet_arrays, save_keras_weights
    from exodeepfinder.model.weights import BUNDLED_WEIGHTS, load_model

    assert arrays.CONV_LAYERS == unet.CONV_LAYERS  # the table is repeated: unet.py imports only torch
    network = load_model("bundled", "cpu")
    weights = arrays.UNetWeights(read_unet_arrays(BUNDLED_WEIGHTS))
    for (weight, bias), conv in zip(weights.convolutions, network.convs):
        np.testing.assert_array_equal(weight, conv.weight.detach().numpy())
        np.testing.assert_array_equal(bias, conv.bias.detach().numpy())
    save_keras_weights(weights, tmp_path / "copy.h5")  # written without PyTorch, read back by both
    for (weight, bias), (again, bias_again) in zip(weights.convolutions, read_unet_arrays(tmp_path / "copy.h5")):
        np.testing.assert_array_equal(weight, again)
        np.testing.assert_array_equal(bias, bias_again)
    rebuilt = weights.to_torch()
    windows = np.random.default_rng(0).random((1, 1, 6, 16, 16), np.float32)
    with torch.no_grad():
        np.testing.assert_array_equal(rebuilt(torch.from_numpy(windows)).numpy(),
                                      network(torch.from_numpy(windows)).numpy())
    movie = simulate_movie((12, 40, 40), n_events=2, n_spots=2, seed=6).movie
    for backend in ("torch", "openvino"):  # a UNetWeights runs with either engine where both are installed
        np.testing.assert_array_equal(segment_movie(movie, weights, backend=backend, precision="fp32"),
                                      segment_movie(movie, network, backend=backend, precision="fp32"))
    with pytest.raises(ValueError, match="shapes"):
        arrays.UNetWeights(weights.convolutions[:-1])


def test_a_compact_network_runs_with_every_engine(tmp_path):
    """A U-Net of other widths (a compact one) has the same table in both modules, its own graph digest, and the
    OpenVINO graph built from its arrays computes the PyTorch network, through load_model and segment_movie."""
    import openvino
    import torch

    from exodeepfinder.inference.openvino_backend import weights_digest
    from exodeepfinder.inference.openvino_graph import unet_graph
    from exodeepfinder.model import arrays, unet
    from exodeepfinder.model.keras_weights import save_keras_weights
    from exodeepfinder.model.weights import load_model
    from exodeepfinder.training.initialization import keras_initialization

    widths = (16, 24, 32)
    assert arrays.conv_layers(widths) == unet.conv_layers(widths)
    torch.manual_seed(0)
    network = unet.UNet(widths=widths)
    keras_initialization(network)
    with torch.no_grad():
        network.convs[-1].bias.copy_(torch.tensor([0.0, 0.5, 1.0]))  # background, spots and events all plausible
    path = save_keras_weights(network, tmp_path / "compact.h5")
    model = load_model(path, "cpu")
    assert model.widths == widths and weights_digest(model) != weights_digest(unet.UNet())
    windows = np.random.default_rng(1).random((1, 1, 8, 32, 24), np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(windows)).numpy()
    compiled = openvino.Core().compile_model(unet_graph(arrays.unet_arrays(model)), "CPU",
                                             {"INFERENCE_PRECISION_HINT": "f32"})
    np.testing.assert_allclose(compiled({0: windows})[0], expected, rtol=0, atol=1e-4)
    movie = simulate_movie((12, 40, 40), n_events=2, n_spots=2, seed=6).movie
    labels = {backend: segment_movie(movie, model, backend=backend, precision="fp32")
              for backend in ("torch", "openvino")}
    assert (labels["torch"] == labels["openvino"]).mean() > 0.999

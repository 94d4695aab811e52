"""int8 inference: NNCF quantization of the OpenVINO graph, its disk cache, precision "auto", the FLOP count."""

import numpy as np
import pytest

from exodeepfinder.errors import InputError
from exodeepfinder.events.cluster import cluster_events
from exodeepfinder.events.evaluate import match_events
from exodeepfinder.inference import segment_movie
from exodeepfinder.model.precision import PRECISIONS, TRAINING_PRECISIONS, check_precision
from exodeepfinder.simulation import simulate_movie

pytest.importorskip("openvino")
pytest.importorskip("nncf")


@pytest.fixture(scope="module")
def model():
    import torch

    from exodeepfinder.model.weights import BUNDLED_WEIGHTS, load_model

    torch.set_num_threads(2)
    return load_model(BUNDLED_WEIGHTS, "cpu")


@pytest.fixture()
def fresh_cache(monkeypatch, tmp_path):
    """An empty disk cache and nothing in memory."""
    from exodeepfinder.inference import openvino_backend, openvino_runtime

    monkeypatch.setenv("EXODEEPFINDER_CACHE", str(tmp_path))
    monkeypatch.setattr(openvino_runtime, "_core", None)
    openvino_backend.clear_cache()
    yield tmp_path
    openvino_backend.clear_cache()


def test_precision_names():
    assert PRECISIONS == ("auto", "fast", "fp32", "int8") and TRAINING_PRECISIONS == ("fast", "fp32")
    with pytest.raises(ValueError, match="precision: expected one of fast, fp32, got 'int8'"):
        check_precision("int8", TRAINING_PRECISIONS)


def test_bad_precision_is_a_clear_error(model):
    movie = np.zeros((4, 16, 16), np.uint16)
    with pytest.raises(ValueError, match="precision: expected one of auto, fast, fp32, int8, got 'int4'"):
        segment_movie(movie, model, precision="int4")
    with pytest.raises(InputError, match="precision 'int8' runs with OpenVINO on the CPU, not with backend='torch'"):
        segment_movie(movie, model, precision="int8", backend="torch")


def test_bad_precision_on_the_command_line(tmp_path, capsys):
    from exodeepfinder.cli.segment import main

    with pytest.raises(SystemExit) as exit_:
        main(["-m", str(tmp_path / "movie.h5"), "--precision", "int4"])
    assert exit_.value.code == 2
    assert "invalid choice: 'int4'" in capsys.readouterr().err


def test_auto_is_int8_on_a_cpu_with_openvino_and_fast_elsewhere(monkeypatch):
    from exodeepfinder.inference import backends, quantize

    precision, reason = backends.resolve_precision("auto", "auto", "cpu")
    assert precision == "int8" and "passes the quality criterion" in reason
    assert backends.resolve_precision("auto", "torch", "cpu")[0] == "fast"
    assert backends.resolve_precision("fp32", "auto", "cpu") == ("fp32", "as asked")
    monkeypatch.setattr(quantize, "import_nncf", lambda: None)
    precision, reason = backends.resolve_precision("auto", "auto", "cpu")
    assert precision == "fast" and "NNCF" in reason


def test_flops_per_voxel_counts_the_networks_convolutions():
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from exodeepfinder.model.arrays import flops_per_voxel
    from exodeepfinder.model.unet import UNet

    network = UNet().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, 1, 8, 32, 32))
    assert flops_per_voxel() == counter.get_total_flops() / (8 * 32 * 32) == pytest.approx(0.511e6, rel=1e-3)


@pytest.fixture()
def small_calibration(monkeypatch):
    """Small calibration and check windows (the tests of the cache; the real ones: the slow test below).

    Returns the list of the ``float_ends`` argument of each quantization.
    """
    from exodeepfinder.inference import quantize

    monkeypatch.setattr(quantize, "CALIBRATION_VERSION", "test")
    monkeypatch.setattr(quantize, "CALIBRATION_MOVIE", (12, 40, 40))
    monkeypatch.setattr(quantize, "CALIBRATION_WINDOW", (12, 48, 48))
    monkeypatch.setattr(quantize, "CALIBRATION_SEEDS", (1,))
    monkeypatch.setattr(quantize, "CHECK_SEEDS", (2,))
    calls = []
    real = quantize.quantize_graph
    monkeypatch.setattr(quantize, "quantize_graph",
                        lambda graph, float_ends=False: calls.append(float_ends) or real(graph, float_ends=float_ends))
    return calls


def test_int8_graph_is_quantized_once_and_read_back_from_disk(model, fresh_cache, small_calibration):
    from exodeepfinder.inference import openvino_backend, quantize

    calls = small_calibration
    movie = simulate_movie((12, 40, 40), n_events=3, n_spots=3, seed=3).movie
    digest = openvino_backend.weights_digest(model)
    assert not quantize.is_quantized(digest)
    first, scores = segment_movie(movie, model, precision="int8", return_scores=True)
    assert calls == [False] and quantize.is_quantized(digest)
    assert np.isfinite(scores).all() and np.allclose(scores.astype(np.float32).sum(axis=1), 1, atol=0.01)
    folder = quantize.int8_cache_folder(digest)
    assert folder.parent == fresh_cache / "openvino" / "int8" and "nncf" in folder.name
    assert sorted(p.name for p in folder.iterdir()) == ["check.json", "model.bin", "model.xml"]
    check = quantize.int8_check(digest)
    assert 0 <= check["event_iou"] <= 1 and check["voxels_agreeing"] > 0.99
    assert [p.name for p in folder.parent.iterdir()] == [folder.name], "no partial folder left"
    openvino_backend.clear_cache()  # as a new process: the graph comes from the disk
    second = segment_movie(movie, model, precision="int8")
    assert calls == [False], "the second load does not quantize again"
    np.testing.assert_array_equal(first, second)
    # other weights: another quantization
    from exodeepfinder.model.arrays import UNetWeights, unet_arrays

    halved = UNetWeights([(weight, bias * 0.5) for weight, bias in unet_arrays(model)])
    segment_movie(movie, halved, precision="int8")
    assert calls == [False, False]


def test_auto_runs_float32_for_weights_whose_int8_labels_differ(model, fresh_cache, small_calibration, monkeypatch):
    from exodeepfinder.inference import backends, openvino_backend, quantize

    monkeypatch.setattr(quantize, "MIN_EVENT_IOU", 1.5)  # no quantization can pass
    monkeypatch.setattr(quantize, "RETRY_EVENT_IOU", 1.5)
    precision, reason = backends.resolve_precision("auto", "auto", "cpu", model)
    assert precision == "fast" and "differ from float32" in reason, reason
    assert small_calibration == [False, True], "a failed check quantizes again with float32 first and last convolutions"
    check = quantize.int8_check(openvino_backend.weights_digest(model))
    assert set(check) == {"event_iou", "voxels_agreeing", "float_ends", "tried_event_iou"}
    assert check["event_iou"] == max(check["tried_event_iou"])
    runner = backends.make_runner(model, "auto", "cpu", "auto")
    assert runner.description.endswith("f32") and not runner.int8
    assert backends.make_runner(model, "auto", "cpu", "int8").int8, "int8 asked for runs whatever the check"
    assert small_calibration == [False, True]
    # what the commands print
    from argparse import Namespace

    from exodeepfinder.cli._common import precision_line

    line = precision_line(Namespace(precision="auto", backend="auto"), model)
    assert line.startswith("precision fast (auto: the int8 labels of these weights differ"), line
    line = precision_line(Namespace(precision="int8", backend="auto"), model)
    assert line.startswith("precision int8 (warning: the int8 labels"), line
    assert precision_line(Namespace(precision="fp32", backend="auto"), model) == "precision fp32"


@pytest.mark.slow
def test_int8_finds_the_events_float32_finds(model):
    """The real calibration (in the user's cache: quantized once per machine, about a minute):
    event F1 against the simulated truth within 0.01 of float32's."""
    simulation = simulate_movie((64, 128, 128), n_events=40, n_spots=30, seed=21)
    f1 = {}
    labels = {}
    for precision in ("fast", "int8"):  # fast: float32 on CPUs without bfloat16 units
        labels[precision] = segment_movie(simulation.movie, model, precision=precision, tiling="fast")
        events = cluster_events(labels[precision], 5, min_size=10)
        f1[precision] = match_events(events, simulation.events).summary["f1"]
    assert f1["fast"] >= 0.85, f1
    assert f1["int8"] >= f1["fast"] - 0.01, f1
    assert np.mean(labels["int8"] == labels["fast"]) >= 0.999


def test_int8_pads_the_frame_by_4_pixels_and_float32_by_the_reference_25(model):
    """A frame that one window holds: int8 computes FAST_PAD (4) zeros around it, float32 the reference's
    PAD (25), where the official weights' float32 events moved with 4 (docs/segment.md, "Border padding")."""
    from exodeepfinder.inference.segment import prepare
    from exodeepfinder.inference.tiling import FAST_PAD, PAD

    shape = (40, 128, 96)
    _, int8 = prepare(shape, model, precision="int8")
    _, float32 = prepare(shape, model, precision="fast")
    assert (int8.y.offset, int8.x.offset, int8.y.size, int8.x.size) == (FAST_PAD, FAST_PAD, 136, 104)
    assert (float32.y.offset, float32.x.offset, float32.y.size, float32.x.size) == (PAD, PAD, 180, 148)
    assert int8.computed_voxels(40) < 0.6 * float32.computed_voxels(40)

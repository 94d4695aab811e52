"""The GPU paths on a CUDA GPU: segmentation, detection, training and the command line on device 'cuda'.

Skipped where PyTorch sees no CUDA GPU (CI has none). On a GPU machine run them with
``pytest tests/test_cuda.py``; ``bench/device_check.sh`` runs them with the GPU benchmarks.
Each compares the GPU with the CPU on the same movie, or with the simulated truth.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU available to PyTorch")

from exodeepfinder import detect, load_model, segment  # noqa: E402
from exodeepfinder.cli import detect as detect_cli  # noqa: E402
from exodeepfinder.events.evaluate import match_events  # noqa: E402
from exodeepfinder.io.events import read_events  # noqa: E402
from exodeepfinder.io.h5 import write_h5  # noqa: E402
from exodeepfinder.simulation import simulate_movie  # noqa: E402
from exodeepfinder.training import train  # noqa: E402
from test_training_dataset import make_training_dataset  # noqa: E402

SHAPE = (96, 128, 128)


@pytest.fixture(scope="module")
def simulation():
    return simulate_movie(SHAPE, n_events=20, n_spots=30, seed=31)


def test_fp32_on_the_gpu_matches_the_cpu(simulation, network_weights):
    on_cpu = segment(simulation.movie, load_model(network_weights, device="cpu"), precision="fp32", backend="torch")
    on_gpu = segment(simulation.movie, load_model(network_weights, device="cuda"), precision="fp32")
    assert on_gpu.shape == on_cpu.shape and on_gpu.dtype == on_cpu.dtype
    assert (on_gpu == on_cpu).mean() > 0.9999
    events_cpu, events_gpu = on_cpu == 2, on_gpu == 2
    assert (events_cpu & events_gpu).sum() / max((events_cpu | events_gpu).sum(), 1) > 0.99


def test_detect_on_the_gpu_finds_the_simulated_events(simulation):
    # the default precision is bfloat16 autocast on a GPU: its events are the CPU's, one for one
    model = load_model(None, device="cuda")
    found = detect(simulation.movie, model, offset=simulation.params["offset"]).events
    summary = match_events(found, simulation.events, tolerance=5).summary
    assert summary["f1"] >= 0.9, summary
    on_cpu = detect(simulation.movie, load_model(None, device="cpu"), backend="torch",
                    offset=simulation.params["offset"]).events
    assert match_events(found, on_cpu, tolerance=2).summary["f1"] >= 0.95


def test_training_on_the_gpu_learns_from_random_weights(tmp_path):
    # the CPU's slow test (test_training_learns) in the same steps: 200 steps of 8 patches of 16^3
    dataset = make_training_dataset(tmp_path, n_movies=3, shape=(48, 64, 64), n_events=16, n_spots=12, seed=0)
    history = train(dataset, tmp_path / "run", patch_sizes=16, batch_sizes=8, random_shifts=6, n_epochs=8,
                    n_steps=25, steps_per_valid=4, seed=0, device="cuda")
    assert np.isfinite(history["loss"]).all()
    assert history["val_f1"][-1, 1] > 0.6 and history["val_f1"][-1, 2] > 0.4
    assert (tmp_path / "run" / "net_weights_FINAL.h5").is_file()


def test_detect_command_on_the_gpu(tmp_path, simulation, capsys):
    movie = write_h5(tmp_path / "cell" / "movie.h5", simulation.movie)
    assert detect_cli.main([str(movie), "--device", "cuda", "--offset", str(simulation.params["offset"]),
                            "--gallery_size", "0"]) == 0
    assert "cuda" in capsys.readouterr().out.lower()
    events = read_events(tmp_path / "cell" / "movie_events.csv")
    assert match_events(events, simulation.events, tolerance=5).summary["f1"] >= 0.9

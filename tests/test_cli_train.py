"""edf_train end to end on a tiny simulated dataset: outputs, errors, resume, fine-tuning."""

import numpy as np
import pytest

from exodeepfinder.cli.train import main
from exodeepfinder.errors import Cancelled
from exodeepfinder.model import UNet, load_keras_weights
from exodeepfinder.model.keras_weights import read_keras_conv_weights
from exodeepfinder.training.history import read_history
from exodeepfinder.training.run import run_training
from exodeepfinder.training.trainer import expand_stages
from test_training_dataset import make_training_dataset

# Tiny runs: patches of 8, 2 patches per batch, 2 steps per epoch, 1 validation batch.
TINY = ["-ps", "8", "-bs", "2", "-rs", "2", "-ns", "2", "-spv", "1", "--seed", "3"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_training_dataset(tmp_path_factory.mktemp("cli_train"), n_movies=2, shape=(16, 32, 32),
                                 n_events=6, n_spots=6, split=50)


def test_train_writes_weights_history_and_plot(dataset, tmp_path, capsys):
    output = tmp_path / "run"
    assert main(["-d", str(dataset), "-o", str(output), "-ne", "2", "--checkpoint_every", "1", *TINY]) == 0
    out = capsys.readouterr().out
    assert "epoch 2 (stage 1)" in out and "done: 2 epochs" in out
    for name in ("net_weights_epoch1.h5", "net_weights_epoch2.h5", "net_weights_FINAL.h5", "net_train_history.h5",
                 "net_train_history_plot.png", "net_train_state.pt"):
        assert (output / name).is_file(), name
    assert (output / "net_train_history_plot.png").read_bytes()[:4] == b"\x89PNG"
    # the weights are in the Keras layout: 15 convolutions that the U-Net loads
    assert len(read_keras_conv_weights(output / "net_weights_FINAL.h5")) == 15
    load_keras_weights(UNet(), output / "net_weights_FINAL.h5")
    history = read_history(output / "net_train_history.h5")
    assert list(history["epoch"]) == [1, 2] and history["val_f1"].shape == (2, 3)
    assert np.isfinite(history["loss"]).all() and np.isfinite(history["val_loss"]).all()
    # a second run into the same folder is refused, nothing is replaced
    before = (output / "net_weights_FINAL.h5").read_bytes()
    assert main(["-d", str(dataset), "-o", str(output), "-ne", "1", *TINY]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert (output / "net_weights_FINAL.h5").read_bytes() == before


def test_stages_run_in_order_from_the_previous_weights(dataset, tmp_path, capsys):
    output = tmp_path / "run"
    argv = ["-d", str(dataset), "-o", str(output), "-ps", "[8,12]", "-bs", "2", "-rs", "2,4", "-ne", "1", "2",
            "-ns", "1", "-spv", "1"]
    assert main(argv) == 0
    history = read_history(output / "net_train_history.h5")
    assert list(history["stage"]) == [1, 2, 2] and list(history["patch_size"]) == [8, 12, 12]
    assert list(history["random_shift"]) == [2, 4, 4]
    assert (output / "net_weights_epoch1.h5").is_file() and (output / "net_weights_epoch3.h5").is_file()


@pytest.mark.parametrize("argv, message", [
    (["-ps", "40"], r"--patch_sizes: patch size 40 does not fit in .*\(16 frames of 32 x 32 pixels\)"),
    (["-ps", "8", "18"], r"--patch_sizes: 18 is not a multiple of 4"),
    (["-bs", "two"], r"--batch_sizes: not a list of whole numbers"),
    (["-lr", "0"], r"--learning_rate: must be positive"),
    (["-wp", "missing.h5"], r"missing\.h5: weights file not found"),
    (["--resume"], r"--resume: no training to resume here"),
])
def test_bad_options_are_clear_errors_before_training(dataset, tmp_path, capsys, argv, message):
    import re

    output = tmp_path / "run"
    assert main(["-d", str(dataset), "-o", str(output), "-ne", "1", "-ns", "1", "-ps", "8", "-bs", "2", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and re.search(message, err), err
    assert not output.exists() or not any(output.iterdir())  # nothing written


def test_dataset_without_train_folder(tmp_path, capsys):
    (tmp_path / "dataset" / "valid").mkdir(parents=True)
    assert main(["-d", str(tmp_path / "dataset"), "-o", str(tmp_path / "run")]) == 2
    assert "no train/ folder" in capsys.readouterr().err


def test_resume_continues_from_the_last_checkpoint(dataset, tmp_path):
    stages = expand_stages(8, 2, 2, 5, 2)
    options = dict(steps_per_valid=1, seed=3, checkpoint_every=2, device="cpu")
    straight = run_training(dataset, tmp_path / "straight", stages, **options)

    # Stop during epoch 4 (a GUI's Cancel button): the last checkpoint is epoch 2, epochs 1-3 are in the history.
    stopped = tmp_path / "stopped"
    with pytest.raises(Cancelled):
        run_training(dataset, stopped, stages, progress=lambda done, total: done < 7, **options)
    assert len(read_history(stopped / "net_train_history.h5")) == 3
    assert not (stopped / "net_weights_FINAL.h5").exists()

    assert main(["-d", str(dataset), "-o", str(stopped), "--resume", "-ne", "5", "--checkpoint_every", "2",
                 "-ps", "8", "-bs", "2", "-rs", "2", "-ns", "2", "-spv", "1", "--seed", "3", "--device", "cpu"]) == 0
    history = read_history(stopped / "net_train_history.h5")
    assert list(history["epoch"]) == [1, 2, 3, 4, 5]  # every epoch once
    # the resumed run is the uninterrupted one: same patches, same optimizer state, same numbers
    np.testing.assert_allclose(history["loss"], straight["loss"], rtol=1e-3)
    np.testing.assert_allclose(history["val_loss"], straight["val_loss"], rtol=1e-3)
    final = read_keras_conv_weights(stopped / "net_weights_FINAL.h5")
    expected = read_keras_conv_weights(tmp_path / "straight" / "net_weights_FINAL.h5")
    for (kernel, bias), (kernel2, bias2) in zip(final, expected):
        np.testing.assert_allclose(kernel, kernel2, atol=1e-5)

    # other stages than the stopped run's: refused
    assert main(["-d", str(dataset), "-o", str(stopped), "--resume", "-ps", "12", "-ne", "5"]) == 2


def test_fine_tuning_starts_from_the_given_weights(dataset, tmp_path, official_weights):
    output = tmp_path / "run"
    assert main(["-d", str(dataset), "-o", str(output), "-wp", str(official_weights), "-ne", "1", "-ns", "1",
                 "-lr", "1e-12", *TINY[:6], "-spv", "1"]) == 0
    for (kernel, bias), (kernel2, bias2) in zip(read_keras_conv_weights(output / "net_weights_FINAL.h5"),
                                                read_keras_conv_weights(official_weights)):
        np.testing.assert_allclose(kernel, kernel2, atol=1e-6)
        np.testing.assert_allclose(bias, bias2, atol=1e-6)

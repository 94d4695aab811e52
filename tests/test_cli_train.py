"""edf_train and exodeepfinder.training.train end to end on a tiny simulated dataset: outputs, errors,
recipes, time budgets, callbacks, cancel and resume, fine-tuning."""

import time

import numpy as np
import pytest

from exodeepfinder.cli.train import main
from exodeepfinder.errors import Cancelled, InputError
from exodeepfinder.model import UNet, load_keras_weights
from exodeepfinder.model.keras_weights import read_keras_conv_weights
from exodeepfinder.training import History, train
from exodeepfinder.training.history import read_history
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
    (["-ps", "40"], r"patch_sizes: patch size 40 does not fit in .*\(16 frames of 32 x 32 pixels\)"),
    (["-ps", "8", "18"], r"--patch_sizes: 18 is not a multiple of 4"),
    (["-bs", "two"], r"--batch_sizes: not a list of whole numbers"),
    (["-lr", "0"], r"--learning_rate: must be positive"),
    (["-wp", "missing.h5"], r"missing\.h5: weights file not found"),
    (["--resume"], r"resume: no training to resume here"),
    (["--max_minutes", "0"], r"--max_minutes: must be positive"),
])
def test_bad_options_are_clear_errors_before_training(dataset, tmp_path, capsys, argv, message):
    import re

    output = tmp_path / "run"
    assert main(["-d", str(dataset), "-o", str(output), "-ne", "1", "-ns", "1", "-ps", "8", "-bs", "2", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and re.search(message, err), err
    assert not output.exists() or not any(output.iterdir())  # nothing written


def test_loss_choices(dataset, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["-d", str(dataset), "-o", str(tmp_path / "run"), "--loss", "mse"])
    assert stop.value.code == 2
    assert "--loss: invalid choice: 'mse' (choose from 'dice_ce', 'tversky')" in capsys.readouterr().err


def test_dataset_without_train_folder(tmp_path, capsys):
    (tmp_path / "dataset" / "valid").mkdir(parents=True)
    assert main(["-d", str(tmp_path / "dataset"), "-o", str(tmp_path / "run")]) == 2
    assert "no train/ folder" in capsys.readouterr().err


def test_resume_continues_after_the_last_finished_epoch(dataset, tmp_path):
    options = dict(patch_sizes=8, batch_sizes=2, random_shifts=2, n_epochs=5, n_steps=2, steps_per_valid=1, seed=3,
                   checkpoint_every=2, device="cpu")
    straight = train(dataset, tmp_path / "straight", **options)

    # Cancel during epoch 4 (a GUI's Cancel button): epochs 1-3 are saved, with the state to resume from.
    stopped = tmp_path / "stopped"
    with pytest.raises(Cancelled):
        train(dataset, stopped, progress=lambda done, total: done < 7, **options)
    assert len(read_history(stopped / "net_train_history.h5")) == 3
    assert not (stopped / "net_weights_FINAL.h5").exists()

    # the command line resumes it without repeating the stage options
    assert main(["-d", str(dataset), "-o", str(stopped), "--resume", "--checkpoint_every", "2", "-spv", "1",
                 "--seed", "3", "--device", "cpu"]) == 0
    history = read_history(stopped / "net_train_history.h5")
    assert list(history["epoch"]) == [1, 2, 3, 4, 5]  # every epoch once
    # the resumed run is the uninterrupted one: same patches, learning rates, optimizer state, numbers
    np.testing.assert_allclose(history["learning_rate"], straight["learning_rate"], rtol=1e-12)
    np.testing.assert_allclose(history["loss"], straight["loss"], rtol=1e-3)
    np.testing.assert_allclose(history["val_loss"], straight["val_loss"], rtol=1e-3)
    final = read_keras_conv_weights(stopped / "net_weights_FINAL.h5")
    expected = read_keras_conv_weights(tmp_path / "straight" / "net_weights_FINAL.h5")
    for (kernel, bias), (kernel2, bias2) in zip(final, expected):
        np.testing.assert_allclose(kernel, kernel2, atol=1e-5)

    # other stages or another loss than the stopped run's: refused
    assert main(["-d", str(dataset), "-o", str(stopped), "--resume", "-ps", "12", "-ne", "5"]) == 2
    with pytest.raises(InputError, match="the stopped run used loss 'dice_ce', not 'tversky'"):
        train(dataset, stopped, resume=True, loss="tversky")


def test_on_epoch_gets_each_record_and_the_history_so_far(dataset, tmp_path):
    seen = []
    history = train(dataset, tmp_path / "run", patch_sizes=[8, 12], batch_sizes=2, random_shifts=2, n_epochs=[2, 1],
                    n_steps=2, steps_per_valid=1, seed=0, on_epoch=lambda record, so_far: seen.append(
                        (record.epoch, record.stage, len(so_far), isinstance(so_far, History))))
    assert seen == [(1, 1, 1, True), (2, 1, 2, True), (3, 2, 3, True)]
    assert len(history) == 3


def test_reference_recipe_keeps_its_learning_rate_and_loss(dataset, tmp_path, capsys):
    output = tmp_path / "run"
    assert main(["-d", str(dataset), "-o", str(output), "--loss", "tversky", "-ne", "2", *TINY]) == 0
    assert "loss tversky, learning rate 0.0001 (constant)" in capsys.readouterr().out
    history = read_history(output / "net_train_history.h5")
    assert list(history["learning_rate"]) == [1e-4, 1e-4]
    assert (history["loss"] > 1).all()  # the Tversky loss of three classes (0 to 3), not the Dice + CE


def test_max_minutes_ends_in_time_with_every_stage(dataset, tmp_path, capsys):
    output = tmp_path / "run"
    started = time.monotonic()
    assert main(["-d", str(dataset), "-o", str(output), "-ps", "8", "12", "-bs", "2", "-rs", "2", "-ne", "1000", "-ns",
                 "4", "-spv", "1", "--seed", "1", "--max_minutes", "0.3", "--device", "cpu"]) == 0
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert "epochs to be scaled to end within 0.3 min" in out and "stage 1: " in out and " s per step" in out
    history = read_history(output / "net_train_history.h5")
    assert set(history["stage"]) == {1, 2} and len(history) < 2000  # 1000 epochs per stage asked: scaled down
    assert (output / "net_weights_FINAL.h5").is_file()
    assert elapsed < 0.3 * 60 + 15  # the budget, plus starting Python and reading the data on a busy machine


def test_fine_tuning_starts_from_the_given_weights(dataset, tmp_path, official_weights):
    output = tmp_path / "run"
    assert main(["-d", str(dataset), "-o", str(output), "-wp", str(official_weights), "-ne", "1", "-ns", "1",
                 "-lr", "1e-12", *TINY[:6], "-spv", "1"]) == 0
    for (kernel, bias), (kernel2, bias2) in zip(read_keras_conv_weights(output / "net_weights_FINAL.h5"),
                                                read_keras_conv_weights(official_weights)):
        np.testing.assert_allclose(kernel, kernel2, atol=1e-6)
        np.testing.assert_allclose(bias, bias2, atol=1e-6)


def test_a_compact_network_trains_and_resumes_compact(dataset, tmp_path):
    """Weights of other widths (a compact network's) are trained as that network, and resumed as it."""
    from exodeepfinder.model.keras_weights import read_unet_widths, save_keras_weights

    base = save_keras_weights(UNet(widths=(8, 12, 16)), tmp_path / "compact.h5")
    options = dict(patch_sizes=8, batch_sizes=2, random_shifts=2, n_epochs=3, n_steps=2, steps_per_valid=1, seed=3,
                   checkpoint_every=1, device="cpu", loss="dice_ce", weights_path=base)
    stopped = tmp_path / "stopped"
    with pytest.raises(Cancelled):  # stopped during epoch 2: epoch 1 saved with the state to resume from
        train(dataset, stopped, progress=lambda done, total: done < 3, **options)
    assert main(["-d", str(dataset), "-o", str(stopped), "--resume", "-spv", "1", "--seed", "3", "--device", "cpu"]) == 0
    assert list(read_history(stopped / "net_train_history.h5")["epoch"]) == [1, 2, 3]
    assert read_unet_widths(stopped / "net_weights_FINAL.h5") == (8, 12, 16)

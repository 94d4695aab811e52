"""Training in several processes (DistributedDataParallel) on CPUs with the gloo backend: identical
weights on every rank, validation shared out and gathered, files written once, and one process in a
process group trains exactly as a plain run."""

import functools
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from exodeepfinder.cli.train import main
from exodeepfinder.model import UNet
from exodeepfinder.training.dataset import load_movies, scan_dataset
from exodeepfinder.training.distributed import SINGLE, ProcessFailed, run_in_processes
from exodeepfinder.training import train
from exodeepfinder.training.history import read_history
from exodeepfinder.training.recipe import DEFAULT
from exodeepfinder.training.run import FINAL_WEIGHTS, HISTORY, HISTORY_PLOT, STATE, checkpoint_name
from exodeepfinder.training.trainer import Stage, Trainer, keras_initialization
from test_training_dataset import make_training_dataset

#: One epoch of 2 steps: patches of 8, 2 per batch (per process), shifts up to 2.
STAGES = [Stage(patch_size=8, batch_size=2, random_shift=2, n_epochs=1, n_steps=2)]
VALIDATION_BATCHES = 3
SEED = 3
TINY = ["-ps", "8", "-bs", "2", "-rs", "2", "-ns", "2", "-spv", "3", "--seed", str(SEED)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_training_dataset(tmp_path_factory.mktemp("ddp"), n_movies=2, shape=(16, 32, 32), n_events=6,
                                 n_spots=6, split=50)


def fit_and_save(ranks, dataset, folder):
    """Train STAGES on ``dataset`` in this process; save its final weights, patch generator and history."""
    train_files, valid_files = scan_dataset(dataset)
    torch.manual_seed(SEED + ranks.rank)  # other initial weights on each rank: DDP must start all from rank 0's
    model = UNet(softmax=False)
    keras_initialization(model)
    trainer = Trainer(model, load_movies(train_files), load_movies(valid_files), recipe=DEFAULT, precision="fp32",
                      seed=SEED, ranks=ranks)
    history = trainer.fit(STAGES, steps_per_valid=VALIDATION_BATCHES)
    torch.save({"weights": model.state_dict(), "rng": trainer.rng.bit_generator.state,
                "history": history.to_arrays()}, folder / f"rank{ranks.rank}.pt")


def load(path):
    return torch.load(path, weights_only=False)


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_two_processes_keep_identical_weights_and_share_the_validation(dataset, tmp_path):
    run_in_processes(fit_and_save, 2, dataset, tmp_path, backend="gloo", device_type="cpu")
    rank0, rank1 = load(tmp_path / "rank0.pt"), load(tmp_path / "rank1.pt")
    assert_same_weights(rank0["weights"], rank1["weights"])
    assert rank0["rng"] != rank1["rng"]  # each rank drew its own patches
    for name in ("loss", "acc", "val_loss", "val_acc", "val_f1"):
        np.testing.assert_array_equal(rank0["history"][name], rank1["history"][name])
    # the weights moved from rank 0's initial ones
    torch.manual_seed(SEED)
    initial = UNet(softmax=False)
    keras_initialization(initial)
    changed = [not torch.equal(rank0["weights"][n], w) for n, w in initial.state_dict().items()]
    assert sum(changed) > len(changed) // 2
    # the gathered validation is that of one process on all batches, with the final weights
    train_files, valid_files = scan_dataset(dataset)
    initial.load_state_dict(rank0["weights"])
    alone = Trainer(initial, [], load_movies(valid_files), recipe=DEFAULT, precision="fp32", seed=SEED)
    scores = alone.validate(alone.validation_batches(STAGES[0], VALIDATION_BATCHES))
    assert rank0["history"]["val_loss"][-1] == pytest.approx(scores["loss"], rel=1e-6)
    np.testing.assert_allclose(rank0["history"]["val_f1"][-1], scores["f1"], rtol=1e-9)
    assert rank0["history"]["val_acc"][-1] == pytest.approx(scores["accuracy"], rel=1e-12)


def test_one_process_in_a_process_group_trains_as_a_plain_run(dataset, tmp_path):
    (tmp_path / "group").mkdir()
    (tmp_path / "plain").mkdir()
    run_in_processes(fit_and_save, 1, dataset, tmp_path / "group", backend="gloo", device_type="cpu")
    fit_and_save(SINGLE, dataset, tmp_path / "plain")
    group, plain = load(tmp_path / "group" / "rank0.pt"), load(tmp_path / "plain" / "rank0.pt")
    assert_same_weights(group["weights"], plain["weights"])
    assert group["rng"] == plain["rng"]
    for name, values in plain["history"].items():
        if name != "seconds":
            np.testing.assert_array_equal(group["history"][name], values, err_msg=name)


@pytest.mark.slow  # the quick check stays under 10 minutes; CI runs it
def test_edf_train_gpus_with_gloo_writes_the_files_once(dataset, tmp_path, capfd):
    output = tmp_path / "run"
    argv = ["-d", str(dataset), "-o", str(output), "-ne", "2", "--checkpoint_every", "1", *TINY]
    assert main([*argv, "--gpus", "2", "--ddp_backend", "gloo"]) == 0
    out, err = capfd.readouterr()
    # rank 0 alone prints (the processes share this terminal)
    assert out.count("training processes (DistributedDataParallel): 2,") == 1
    assert out.count("epoch 1 (stage 1)") == 1 and out.count("epoch 2 (stage 1)") == 1
    assert out.count("done: 2 epochs") == 1
    assert sorted(p.name for p in output.iterdir()) == sorted(
        [FINAL_WEIGHTS, HISTORY, HISTORY_PLOT, STATE, checkpoint_name(1), checkpoint_name(2)])
    history = read_history(output / HISTORY)
    assert list(history["epoch"]) == [1, 2] and np.isfinite(history["val_loss"]).all()
    state = torch.load(output / STATE, weights_only=True)
    assert state["world_size"] == 2 and len(state["rngs"]) == 2 and state["rngs"][0] != state["rngs"][1]
    with h5py.File(output / FINAL_WEIGHTS) as weights:
        assert len(weights.keys()) > 0
    # the stopped run's processes are part of it: resuming with another number is an error
    assert main([*argv[:4], "--resume"]) == 2
    assert "resume: the stopped run had 2 training process(es), not 1" in capfd.readouterr().err


def test_gpus_errors(dataset, tmp_path, capfd):
    argv = ["-d", str(dataset), "-o", str(tmp_path / "run"), "-ne", "1", *TINY]
    assert main([*argv, "--gpus", "0"]) == 2
    assert "--gpus: must be at least 1, got 0" in capfd.readouterr().err
    assert main([*argv, "--gpus", "2", "--device", "cpu"]) == 2
    assert "--gpus: no CUDA GPU here; to train with 2 CPU processes (e.g. to test), add --ddp_backend gloo" in \
        capfd.readouterr().err
    assert main([*argv, "--gpus", "2", "--device", "cpu", "--ddp_backend", "nccl"]) == 2
    assert "--ddp_backend nccl: needs CUDA GPUs; use gloo on CPUs" in capfd.readouterr().err
    # a bad dataset is said once, before any process starts
    assert main(["-d", str(tmp_path / "nowhere"), "-o", str(tmp_path / "run"), "--gpus", "2", "--ddp_backend",
                 "gloo"]) == 2
    assert capfd.readouterr().err.count("dataset folder not found") == 1


def train_in_process(ranks, dataset, output, stop_after_steps, resume):
    """exodeepfinder.training.train in a process; cancelled (on rank 0) after ``stop_after_steps`` if given."""
    progress = (lambda done, total: done < stop_after_steps) if stop_after_steps else None
    train(dataset, output, patch_sizes=8, batch_sizes=2, random_shifts=2, n_epochs=3, n_steps=2, steps_per_valid=3,
          seed=SEED, precision="fp32", checkpoint_every=1, progress=progress, resume=resume)


def assert_same_outputs(expected: Path, actual: Path, assert_equal) -> None:
    """Every dataset (but the timings) of the final weights and the history of two runs: ``assert_equal``."""
    for name in (FINAL_WEIGHTS, HISTORY):
        with h5py.File(expected / name) as first, h5py.File(actual / name) as second:
            names = []
            first.visit(names.append)
            for key in names:
                if isinstance(first[key], h5py.Dataset) and key != "seconds":
                    assert_equal(first[key][()], second[key][()], err_msg=f"{name}: {key}")


@pytest.mark.slow
def test_two_processes_resume_as_if_never_stopped(dataset, tmp_path):
    run_in_processes(train_in_process, 2, dataset, tmp_path / "straight", None, False, backend="gloo",
                     device_type="cpu")
    with pytest.raises(ProcessFailed, match="training process 0 failed"):  # Cancelled in epoch 2
        run_in_processes(train_in_process, 2, dataset, tmp_path / "stopped", 3, False, backend="gloo",
                         device_type="cpu")
    assert len(read_history(tmp_path / "stopped" / HISTORY)) == 1
    run_in_processes(train_in_process, 2, dataset, tmp_path / "stopped", None, True, backend="gloo",
                     device_type="cpu")
    assert_same_outputs(tmp_path / "straight", tmp_path / "stopped", np.testing.assert_array_equal)


@pytest.mark.slow
def test_torchrun_one_process_writes_the_weights_of_a_plain_run(dataset, tmp_path):
    argv = ["-d", str(dataset), "-ne", "1", "--precision", "fp32", *TINY]
    assert main([*argv, "-o", str(tmp_path / "plain")]) == 0
    environment = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                    "-m", "exodeepfinder.train", *argv, "-o", str(tmp_path / "torchrun")], check=True, env=environment,
                   capture_output=True, text=True, timeout=300)
    # another process: the same arithmetic up to the order of float reductions, which depends on
    # the machine's state (threads, memory alignment), not on the code path
    assert_same_outputs(tmp_path / "plain", tmp_path / "torchrun",
                        functools.partial(np.testing.assert_allclose, rtol=1e-3, atol=1e-5))

"""Training pieces on arrays: patch sampling, the Tversky loss, scores, stages, history."""

import numpy as np
import pandas as pd
import pytest
import torch

from exodeepfinder.io.events import make_events
from exodeepfinder.model import UNet
from exodeepfinder.training.data import TrainingMovie, prepare_movie
from exodeepfinder.training.history import EpochRecord, History, plot_history, read_history, save_history
from exodeepfinder.training.loss import tversky_loss
from exodeepfinder.training.metrics import class_scores
from exodeepfinder.training.sampling import PatchSampler
from exodeepfinder.training.trainer import Stage, Trainer, expand_stages, keras_initialization


def coded_movie(shape=(20, 24, 28), objects=None, name="coded"):
    """A movie whose every voxel holds its own flat index, so a patch tells where it came from."""
    frames = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    labels = (frames % 3).astype(np.int8)
    if objects is None:
        objects = make_events([10], [12], [14], class_label=2)
    return TrainingMovie(name, frames, labels, objects)


def patch_origin(patch, shape):
    """(t, y, x) of the first voxel of an un-augmented patch of a coded movie."""
    return np.unravel_index(int(patch.flat[0]), shape)


def test_equal_numbers_of_patches_per_class():
    # 1 event among 200 bright spots, spread over two movies: half the patches still go to the event.
    rng = np.random.default_rng(1)
    spots = make_events(rng.integers(0, 20, 150), rng.integers(0, 24, 150), rng.integers(0, 28, 150), 1)
    movies = [coded_movie(objects=spots, name="a"),
              coded_movie(objects=pd.concat([spots[:50], make_events([5], [6], [7], 2)], ignore_index=True), name="b")]
    sampler = PatchSampler(movies, 8, 0, np.random.default_rng(0))
    picks = sampler.draw_objects(4000)
    is_event = sampler.movie_index[picks] == 1
    is_event &= np.all(sampler.positions[picks] == [5, 6, 7], axis=1)
    assert 0.46 < is_event.mean() < 0.54
    # every spot is drawn, at about the same rate
    spot_picks = picks[~is_event]
    assert len(np.unique(spot_picks)) == 200


def test_patches_follow_their_object_with_bounded_shifts_inside_the_movie():
    shape = (20, 24, 28)
    objects = make_events([10, 0, 19], [12, 0, 23], [14, 27, 0], class_label=[1, 2, 2])
    movie = coded_movie(shape, objects)
    sampler = PatchSampler([movie], 8, 3, np.random.default_rng(0), augment=False)
    batch = sampler.sample(600)
    assert batch.frames.shape == (600, 1, 8, 8, 8) and batch.frames.dtype == np.float32
    assert batch.labels.shape == (600, 8, 8, 8) and batch.labels.dtype == np.int8
    origins = np.array([patch_origin(p, shape) for p in batch.frames[:, 0]])
    # each patch is a contiguous block of the movie, with the labels of the same voxels
    for patch, target, origin in zip(batch.frames[:20, 0], batch.labels[:20], origins):
        region = tuple(slice(o, o + 8) for o in origin)
        np.testing.assert_array_equal(patch, movie.frames[region])
        np.testing.assert_array_equal(target, movie.labels[region])
    assert (origins >= 0).all() and (origins <= np.array(shape) - 8).all()
    # around the centre object (far from borders) the shift spans exactly -3..3 on each axis
    centred = origins[np.all(np.abs(origins + 4 - [10, 12, 14]) <= 3, axis=1)]
    assert len(centred) > 150
    for axis in range(3):
        assert set(centred[:, axis] + 4 - [10, 12, 14][axis]) == set(range(-3, 4))
    # objects in corners: the patch is pushed inside and still holds the object
    for t, y, x in [(0, 0, 27), (19, 23, 0)]:
        hits = origins[(origins[:, 0] <= t) & (t < origins[:, 0] + 8) & (origins[:, 1] <= y)
                       & (y < origins[:, 1] + 8) & (origins[:, 2] <= x) & (x < origins[:, 2] + 8)]
        assert len(hits) > 100


def test_augmentation_swaps_and_flips_patch_and_labels_together():
    shape = (16, 16, 16)
    movie = coded_movie(shape, make_events([8], [8], [8], 2))
    plain = PatchSampler([movie], 16, 0, np.random.default_rng(0), augment=False).sample(1).frames[0, 0]
    batch = PatchSampler([movie], 16, 0, np.random.default_rng(0), augment=True).sample(400)
    seen = set()
    for patch, target in zip(batch.frames[:, 0], batch.labels):
        np.testing.assert_array_equal(target, (patch % 3).astype(np.int8))  # labels moved with the voxels
        for swap in (False, True):
            for fy in (1, -1):
                for fx in (1, -1):
                    view = plain[:, ::fy, ::fx]
                    view = view.transpose(0, 2, 1) if swap else view
                    if np.array_equal(patch, view):
                        seen.add((swap, fy, fx))
        np.testing.assert_array_equal(np.sort(patch[0].ravel()), np.sort(plain[0].ravel()))
    assert len(seen) == 8  # all swaps and flips occur; time is never reversed


def test_sampler_rejects_movies_smaller_than_the_patch():
    with pytest.raises(ValueError, match=r"smaller than the patch size 24"):
        PatchSampler([coded_movie((20, 24, 28))], 24, 0, np.random.default_rng(0))


def test_tversky_loss_values():
    labels = torch.tensor([[0, 0, 1, 2, 2, 0]])
    perfect = torch.nn.functional.one_hot(labels, 3).movedim(-1, 1).float()
    assert float(tversky_loss(perfect, labels)) == pytest.approx(0, abs=1e-6)
    # all background: index of class 0 = 3 / (3 + 0.5 * 3) , classes 1 and 2 score 0
    background = torch.zeros(1, 3, 6)
    background[:, 0] = 1
    assert float(tversky_loss(background, labels)) == pytest.approx(3 - 3 / 4.5, abs=1e-6)
    # soft probabilities against the formula written out with NumPy
    rng = np.random.default_rng(0)
    p = rng.dirichlet([1, 1, 1], size=(2, 5, 4)).transpose(0, 3, 1, 2)  # (n, class, y, x)
    g = rng.integers(0, 3, size=(2, 5, 4))
    onehot = np.eye(3)[g].transpose(0, 3, 1, 2)
    tp = (p * onehot).sum(axis=(0, 2, 3))
    fp = (p * (1 - onehot)).sum(axis=(0, 2, 3))
    fn = ((1 - p) * onehot).sum(axis=(0, 2, 3))
    expected = 3 - (tp / (tp + 0.5 * fp + 0.5 * fn)).sum()
    assert float(tversky_loss(torch.from_numpy(p), torch.from_numpy(g))) == pytest.approx(expected, rel=1e-5)


def test_class_scores_match_scikit_learn():
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    truth = rng.choice(3, 5000, p=[0.9, 0.07, 0.03])
    predicted = np.where(rng.random(5000) < 0.8, truth, rng.integers(0, 3, 5000))
    predicted[predicted == 1] = 0  # a class never predicted: precision 0 (zero_division=0)
    confusion = np.bincount(truth * 3 + predicted, minlength=9).reshape(3, 3)
    scores = class_scores(confusion)
    precision, recall, f1, _ = precision_recall_fscore_support(truth, predicted, labels=[0, 1, 2],
                                                               zero_division=0)
    np.testing.assert_allclose(scores["precision"], precision)
    np.testing.assert_allclose(scores["recall"], recall)
    np.testing.assert_allclose(scores["f1"], f1)
    assert scores["accuracy"] == pytest.approx(accuracy_score(truth, predicted))


def test_stages_repeat_the_last_value_of_shorter_lists():
    stages = expand_stages([8, 16, 32, 48], [256, 128, 32, 10], [4, 8, 16, 32], 100, 100)
    assert stages[3] == Stage(48, 10, 32, 100, 100) and len(stages) == 4
    stages = expand_stages(16, [64, 8], 4, [3, 5, 7], 20)
    assert stages == [Stage(16, 64, 4, 3, 20), Stage(16, 8, 4, 5, 20), Stage(16, 8, 4, 7, 20)]
    with pytest.raises(ValueError, match="patch_sizes: 10 is not a multiple of 4"):
        expand_stages([8, 10], 4, 4, 1, 1)
    with pytest.raises(ValueError, match="n_steps: must be at least 1"):
        expand_stages(8, 4, 4, 1, 0)


def _record(epoch, stage=1):
    rng = np.random.default_rng(epoch)
    return EpochRecord(stage=stage, epoch=epoch, patch_size=8 * stage, batch_size=4, random_shift=2,
                       learning_rate=1e-4, loss=float(rng.random()), acc=0.9, val_loss=1.5, val_acc=0.95,
                       val_precision=rng.random(3), val_recall=rng.random(3), val_f1=rng.random(3), seconds=1.0)


def test_history_round_trip_and_plot(tmp_path):
    history = History([_record(1), _record(2), _record(3, stage=2)])
    path = save_history(history, tmp_path / "net_train_history.h5")
    again = read_history(path)
    assert len(again) == 3 and list(again["stage"]) == [1, 1, 2]
    np.testing.assert_allclose(again["val_f1"], history["val_f1"])
    assert again["val_f1"].shape == (3, 3)
    np.testing.assert_allclose(again["loss"], history["loss"])
    assert isinstance(again[:2], History) and len(again[:2]) == 2
    figure = plot_history(again)
    titles = [axis.get_title() for axis in figure.axes]
    assert titles[:5] == ["Loss", "Accuracy", "Validation F1", "Validation precision", "Validation recall"]
    assert len(figure.axes[2].lines) == 3 + 1  # one curve per class, one line at the start of stage 2


def test_trainer_reduces_the_loss_on_a_fixed_batch():
    # A smoke test of the optimisation step (both precisions): the loss on one batch goes down.
    shape = (16, 16, 16)
    rng = np.random.default_rng(0)
    movie = rng.random(shape).astype(np.float32)
    labels = np.zeros(shape, np.int8)
    labels[movie > 0.8] = 2
    labels[movie < 0.1] = 1
    prepared = prepare_movie("noise", movie, labels, make_events([8], [8], [8], 2))
    for precision in ("fp32", "fast"):
        torch.manual_seed(0)
        model = UNet(softmax=False)
        keras_initialization(model)
        trainer = Trainer(model, [prepared], [], learning_rate=1e-3, precision=precision, seed=0)
        batch = PatchSampler([prepared], 8, 0, np.random.default_rng(0), augment=False).sample(4)
        losses = [trainer.train_step(batch)[0] for _ in range(6)]
        assert losses[-1] < losses[0] - 0.05, (precision, losses)

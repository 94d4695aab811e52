"""Training pieces on arrays: patch sampling, the losses, the initialisation, recipes, scores, stages, history."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from exodeepfinder.inference import normalize_frames
from exodeepfinder.io.events import make_events
from exodeepfinder.model import UNet
from exodeepfinder.simulation.simulate import simulate_movie
from exodeepfinder.training.data import TrainingMovie, prepare_movie
from exodeepfinder.training.history import EpochRecord, History, plot_history, read_history, save_history
from exodeepfinder.training.loss import dice_ce_loss, tversky_loss
from exodeepfinder.training.metrics import class_scores
from exodeepfinder.training.recipe import DEFAULT, REFERENCE, learning_rate_factor
from exodeepfinder.training.sampling import PatchSampler
from exodeepfinder.training.trainer import (BatchPrefetcher, Stage, Trainer, class_frequencies, expand_stages,
                                            keras_initialization, set_prior_bias)


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


def one_hot_tversky(probabilities, labels):
    """The reference loss as this package computed it before the recipes (one-hot products), verbatim."""
    n_classes = probabilities.shape[1]
    probabilities = probabilities.float()
    truth = torch.nn.functional.one_hot(labels.long(), n_classes).movedim(-1, 1).to(probabilities.dtype)
    axes = [0] + list(range(2, probabilities.ndim))
    true_positives = (probabilities * truth).sum(axes)
    predicted = probabilities.sum(axes)
    actual = truth.sum(axes)
    false_positives = predicted - true_positives
    false_negatives = actual - true_positives
    index = true_positives / (true_positives + 0.5 * false_positives + 0.5 * false_negatives + 1e-7)
    return n_classes - index.sum()


def _noise_movie(shape=(16, 24, 24), seed=0):
    rng = np.random.default_rng(seed)
    movie = rng.random(shape).astype(np.float32)
    labels = np.zeros(shape, np.int8)
    labels[movie > 0.8] = 1
    labels[6:9, 10:15, 10:15] = 2
    return prepare_movie("noise", movie, labels, make_events([7, 3], [12, 4], [12, 4], class_label=[2, 1]))


def test_reference_recipe_is_the_plain_reference_loop():
    # --loss tversky: Keras initialisation, Adam 1e-4 at a constant rate, the Tversky loss of the
    # softmax: the same losses and weights as a plain loop with the loss written as before
    prepared = _noise_movie()
    batches = [PatchSampler([prepared], 8, 2, np.random.default_rng(i)).sample(4) for i in range(3)]
    torch.manual_seed(0)
    model = UNet(softmax=False)
    keras_initialization(model)
    plain = copy.deepcopy(model)
    trainer = Trainer(model, [prepared], [], recipe=REFERENCE, precision="fp32", seed=0)
    losses = [trainer.train_step(batch)[0] for batch in batches]
    optimizer = torch.optim.Adam(plain.parameters(), lr=1e-4)
    expected = []
    for batch in batches:
        loss = one_hot_tversky(torch.softmax(plain(torch.from_numpy(batch.frames)), dim=1),
                               torch.from_numpy(batch.labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        expected.append(float(loss))
    assert losses == pytest.approx(expected, rel=1e-5)
    for trained, reference in zip(trainer.model.parameters(), plain.parameters()):
        torch.testing.assert_close(trained, reference, rtol=1e-4, atol=1e-6)
    # the learning rate stays 1e-4 from the first step to the last
    assert {learning_rate_factor(step, 40000, REFERENCE) for step in (0, 1, 20000, 39999)} == {1.0}
    # and the new loss implementation gives the old numbers on soft probabilities
    rng = np.random.default_rng(1)
    probabilities = torch.from_numpy(rng.dirichlet([1, 1, 1], size=(2, 6, 5, 4)).transpose(0, 4, 1, 2, 3).copy())
    labels = torch.from_numpy(rng.integers(0, 3, size=(2, 6, 5, 4)))
    assert float(tversky_loss(probabilities, labels)) == pytest.approx(float(one_hot_tversky(probabilities, labels)),
                                                                      rel=1e-6)


def test_dice_ce_loss_values():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, size=(2, 3, 5, 4))
    labels = rng.integers(0, 3, size=(2, 5, 4))
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    cross_entropy = -np.take_along_axis(log_p, labels[:, None], axis=1).mean()
    onehot = np.eye(3)[labels].transpose(0, 3, 1, 2)
    dice = (2 * (p * onehot).sum(axis=(0, 2, 3)) + 1e-5) / (p.sum(axis=(0, 2, 3)) + onehot.sum(axis=(0, 2, 3)) + 1e-5)
    expected = cross_entropy + 1 - dice[1:].mean()  # the background's Dice is left out
    assert float(dice_ce_loss(torch.from_numpy(logits), torch.from_numpy(labels))) == pytest.approx(expected, rel=1e-5)
    # confident and right: close to 0; the cross-entropy keeps a gradient on a saturated wrong class
    perfect = torch.from_numpy(20.0 * (onehot - 0.5))
    assert float(dice_ce_loss(perfect, torch.from_numpy(labels))) < 1e-4
    wrong = torch.full((1, 3, 4), -20.0, requires_grad=True)
    with torch.no_grad():
        wrong[:, 0] = 20.0  # background everywhere, probabilities of the events ~ 1e-17
    dice_ce_loss(wrong, torch.tensor([[0, 0, 2, 2]])).backward()
    assert float(wrong.grad[0, 2, 2]) < -0.1  # pushes the event logit up
    zero_bias = torch.full((1, 3, 4), -20.0, requires_grad=True)
    with torch.no_grad():
        zero_bias[:, 0] = 20.0
    one_hot_tversky(torch.softmax(zero_bias, dim=1), torch.tensor([[0, 0, 2, 2]])).backward()
    assert abs(float(zero_bias.grad[0, 2, 2])) < 1e-12  # where the reference loss has none left


def test_prior_bias_makes_the_untrained_network_predict_the_class_frequencies():
    frames = normalize_frames(simulate_movie((32, 64, 64), seed=1).movie)
    patches = torch.from_numpy(np.ascontiguousarray(frames[None, None, :16, :32, :32]))
    frequencies = np.array([0.96, 0.03, 0.01])
    for seed in range(2):
        torch.manual_seed(seed)
        model = UNet(softmax=True)
        keras_initialization(model)
        with torch.no_grad():
            before = model(patches).mean(dim=(0, 2, 3, 4)).numpy()
        set_prior_bias(model, frequencies)
        with torch.no_grad():
            after = model(patches).mean(dim=(0, 2, 3, 4)).numpy()
        np.testing.assert_allclose(before, 1 / 3, atol=0.05)  # zero biases: a third of each class
        np.testing.assert_allclose(after, frequencies, rtol=0.2)
        np.testing.assert_allclose(model.convs[-1].bias.detach().numpy(), np.log(frequencies), rtol=1e-6)


def test_class_frequencies_are_those_of_the_training_patches():
    movie = coded_movie(objects=make_events([10, 5], [12, 6], [14, 7], class_label=[2, 1]))
    frequencies = class_frequencies([movie], 8, 2, n_patches=64, seed=3)
    sampler = PatchSampler([movie], 8, 2, np.random.default_rng(3), augment=False)
    labels = np.concatenate([sampler.sample(32).labels, sampler.sample(32).labels])
    np.testing.assert_allclose(frequencies, np.bincount(labels.ravel(), minlength=3) / labels.size)
    assert frequencies.sum() == pytest.approx(1)


def test_background_patches_are_placed_anywhere():
    shape = (20, 40, 40)
    movie = coded_movie(shape, make_events([10], [20], [20], class_label=2))
    for fraction, low, high in ((0.0, 1.0, 1.0), (0.5, 0.4, 0.62), (1.0, 0.0, 0.12)):
        sampler = PatchSampler([movie], 8, 0, np.random.default_rng(0), augment=False, background_fraction=fraction)
        origins = np.array([patch_origin(p, shape) for p in sampler.sample(400).frames[:, 0]])
        on_object = np.all(origins == [6, 16, 16], axis=1).mean()
        assert low <= on_object <= high, (fraction, on_object)
    spread = np.array([patch_origin(p, shape) for p in PatchSampler(
        [movie], 8, 0, np.random.default_rng(0), augment=False, background_fraction=1.0).sample(400).frames[:, 0]])
    assert spread.min(axis=0).tolist() == [0, 0, 0] and spread.max(axis=0).tolist() == [12, 32, 32]


def test_learning_rate_warms_up_then_follows_a_half_cosine():
    factors = np.array([learning_rate_factor(step, 1000, DEFAULT) for step in range(1000)])
    warmup = min(DEFAULT.warmup_steps, 100)
    np.testing.assert_allclose(factors[:warmup], np.arange(1, warmup + 1) / warmup)
    assert factors[warmup] == pytest.approx(1.0) and np.all(np.diff(factors[warmup:]) <= 1e-12)
    assert factors[-1] == pytest.approx(DEFAULT.final_learning_rate)
    middle = warmup + (999 - warmup) // 2
    assert factors[middle] == pytest.approx(DEFAULT.final_learning_rate + (1 - DEFAULT.final_learning_rate) / 2,
                                            abs=0.01)


def test_prefetched_batches_are_those_drawn_on_the_training_thread():
    prepared = _noise_movie()
    stages = [Stage(8, 2, 2, 2, 3)]
    runs = []
    for prefetch in (True, False):
        torch.manual_seed(0)
        trainer = Trainer(UNet(softmax=False), [prepared], [prepared], recipe=DEFAULT, precision="fp32", seed=5,
                          prefetch=prefetch)
        history = trainer.fit(stages, steps_per_valid=1)
        runs.append((history["loss"], trainer.rng.bit_generator.state))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]  # the generator ends the epochs where it would have


def test_prefetcher_passes_errors_on_and_stops_when_closed():
    def broken():
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(BatchPrefetcher(broken, 3))
    drawn = []
    prefetcher = BatchPrefetcher(lambda: drawn.append(1) or len(drawn), 1000)
    first = next(iter(prefetcher))
    prefetcher.close()  # e.g. training cancelled: the thread stops without drawing the rest
    assert first == 1 and len(drawn) <= 3


def test_patches_may_reach_past_the_movie_filled_with_zeros():
    shape = (20, 24, 28)
    movie = coded_movie(shape, make_events([0], [0], [27], class_label=2))
    movie.frames = movie.frames + 1  # no voxel of the movie is 0: zeros are the padding
    batch = PatchSampler([movie], 8, 0, np.random.default_rng(0), augment=False, outside=4).sample(2)
    # the object at the corner (0, 0, 27) is at the centre of its patch, which starts at (-4, -4, 23)
    frames, labels = batch.frames[0, 0], batch.labels[0]
    np.testing.assert_array_equal(frames[4:, 4:, :5], movie.frames[0:4, 0:4, 23:28])
    np.testing.assert_array_equal(labels[4:, 4:, :5], movie.labels[0:4, 0:4, 23:28])
    outside = np.ones((8, 8, 8), bool)
    outside[4:, 4:, :5] = False
    assert (frames[outside] == 0).all() and (labels[outside] == 0).all()
    # without `outside` (the reference) the patch is pushed inside the movie
    inside = PatchSampler([movie], 8, 0, np.random.default_rng(0), augment=False).sample(1).frames[0, 0]
    np.testing.assert_array_equal(inside, movie.frames[0:8, 0:8, 20:28])
    with pytest.raises(ValueError, match="outside: must be between 0 and the patch size - 1"):
        PatchSampler([movie], 8, 0, np.random.default_rng(0), outside=8)


def docked_and_flash_movie():
    """A vesicle docked from frame 2 to 17 (16 objects, one per frame: 0-15), a flash at frame 10
    (object 16) and an event (object 17)."""
    shape = (20, 24, 28)
    labels = np.zeros(shape, np.int8)
    labels[2:18, 5:8, 5:8] = 1
    labels[10, 15:18, 20:23] = 1
    objects = pd.concat([make_events(np.arange(2, 18), 6, 6, class_label=1), make_events([10], [16], [21], 1),
                         make_events([5], [16], [10], 2)], ignore_index=True)
    return TrainingMovie("tracks", np.zeros(shape, np.float32), labels, objects), objects


def test_objects_can_be_drawn_per_track():
    movie, objects = docked_and_flash_movie()
    for per_track, flash_share in ((False, 1 / 17), (True, 1 / 2)):
        sampler = PatchSampler([movie], 8, 0, np.random.default_rng(0), per_track=per_track)
        picks = sampler.draw_objects(8000)
        spots = picks[objects.class_label.to_numpy()[picks] == 1]
        assert np.mean(spots == 16) == pytest.approx(flash_share, abs=0.02)
        assert np.mean(objects.class_label.to_numpy()[picks] == 2) == pytest.approx(0.5, abs=0.02)


def test_a_fraction_of_the_objects_is_drawn_where_spots_appear():
    movie, objects = docked_and_flash_movie()  # onsets: the docked vesicle's first frame (object 0), the flash
    sampler = PatchSampler([movie], 8, 0, np.random.default_rng(0), onsets=0.5)
    picks = sampler.draw_objects(8000)
    spots = picks[objects.class_label.to_numpy()[picks] == 1]
    # half of the spot draws at an onset (object 0, frame 2, or the flash, 16), half uniform over the 17 objects
    assert np.mean(spots == 0) == pytest.approx(0.25 + 0.5 / 17, abs=0.02)
    assert np.mean(spots == 16) == pytest.approx(0.25 + 0.5 / 17, abs=0.02)
    assert np.mean(objects.class_label.to_numpy()[picks] == 2) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="onsets: must be between 0 and 1"):
        PatchSampler([movie], 8, 0, np.random.default_rng(0), onsets=1.5)

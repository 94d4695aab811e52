"""scripts/train_compact_model.py: the student's channel selection and the distillation batches and loss."""

import numpy as np
import pandas as pd
import pytest
import torch
from _scripts import load_script

from exodeepfinder.model.arrays import convolution_shapes
from exodeepfinder.model.keras_weights import read_unet_arrays
from exodeepfinder.model.weights import BUNDLED_WEIGHTS

COMPACT = (16, 24, 32)


@pytest.fixture(scope="module")
def script():
    return load_script("scripts/train_compact_model.py")


def test_channel_selection_is_consistent_through_the_skips(script):
    teacher = read_unet_arrays(BUNDLED_WEIGHTS)
    same = script.student_from_teacher(teacher, (32, 48, 64))  # all channels kept: the teacher itself
    for (weight, bias), (again, bias_again) in zip(teacher, same):
        np.testing.assert_array_equal(weight, again)
        np.testing.assert_array_equal(bias, bias_again)
    student = script.student_from_teacher(teacher, COMPACT)
    assert [(w.shape, b.shape) for w, b in student] == convolution_shapes(COMPACT)
    selected = script.select_channels(teacher, COMPACT)
    # convolution 13 reads [upsampled level 2 (convolution 12's channels), skip A (convolution 2's)]
    columns = np.concatenate([selected[11], 48 + selected[1]])
    np.testing.assert_array_equal(student[12][0], teacher[12][0][selected[12]][:, columns])
    columns = np.concatenate([selected[8], 64 + selected[3]])  # convolution 10: [upsampled bottom, skip B]
    np.testing.assert_array_equal(student[9][0], teacher[9][0][selected[9]][:, columns])
    np.testing.assert_array_equal(student[14][0], teacher[14][0][:, selected[13]])  # every class kept


def test_distillation_batches_cut_the_teacher_where_the_frames_are_cut(script):
    from exodeepfinder.model.unet import UNet
    from exodeepfinder.training import get_recipe
    from exodeepfinder.training.data import TrainingMovie, prepare_movie
    from exodeepfinder.training.sampling import PatchSampler

    rng = np.random.default_rng(0)
    raw = rng.poisson(100, (24, 32, 32)).astype(np.uint16)
    labels = np.zeros(raw.shape, np.int8)
    labels[10:14, 10:14, 10:14] = 2
    labels[3:6, 20:23, 5:8] = 1
    objects = pd.DataFrame({"t": [12.0, 4.0], "y": [12.0, 21.0], "x": [12.0, 6.0], "class_label": [2, 1]})
    movie = prepare_movie("cell", raw, labels, objects)
    # the teacher's "probabilities": a function of the frames, so that the cuts can be compared
    probability = (np.clip(movie.frames.astype(np.float32), 0, 1) * 0.5).astype(np.float16)
    teacher_movies = ([TrainingMovie("cell", probability, movie.labels, movie.objects)],) * 2
    network = UNet(softmax=False, widths=(4, 4, 4))
    trainer = script.DistillationTrainer(network, [movie], [], recipe=get_recipe("dice_ce"), device="cpu",
                                         precision="fp32", seed=3, prefetch=False, teacher_movies=teacher_movies)
    sampler = PatchSampler([movie], 16, 4, trainer.rng, **trainer.recipe.sampler_options(16))
    batches = trainer.training_batches(sampler, 6, 2)
    frames, _, teacher = next(iter(batches))
    expected = (np.clip(frames.numpy()[:, 0], 0, 1) * 0.5).astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(teacher[:, 1].numpy(), expected)
    np.testing.assert_array_equal(teacher[:, 2].numpy(), expected)
    np.testing.assert_allclose(teacher.sum(1).numpy(), 1, atol=1e-6)
    loss, _ = trainer.train_step((frames, _, teacher))
    assert np.isfinite(loss)
    batches.close()


def test_distillation_loss_is_zero_for_the_teachers_own_probabilities(script):
    trainer = object.__new__(script.DistillationTrainer)
    trainer.temperature = 2.0
    logits = torch.randn(2, 3, 4, 8, 8)
    assert float(trainer.distillation_loss(logits, torch.softmax(logits, 1))) == pytest.approx(0, abs=1e-5)
    assert float(trainer.distillation_loss(logits, torch.softmax(-logits, 1))) > 0.1

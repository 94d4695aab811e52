"""Stage 2 of ``exodeepfinder adapt``: fine-tune the U-Net on the corrections, with the project's trainer.

Targets, per reviewed movie: the base network's own segmentation, corrected. The voxels of every
detection the corrections call false (rejected, or unmatched in a complete review) become bright
spot (1) instead of event (2); every real event (accepted or added) gets the reference event mask
(:func:`~exodeepfinder.events.targets.events_to_labels`). Patches are drawn around the real events
and the false ones (hard negatives), and :class:`~exodeepfinder.training.Trainer` trains with the
fine-tuning recipe (:data:`~exodeepfinder.training.recipe.FINE_TUNING_LOSS`) within a
:class:`~exodeepfinder.training.TimeBudget`, always starting from the base weights.

Held out: one split (the last movie when there are several, else the second half of the frames)
is left out of a first training; the network trained without it detects it, and its F1 is
compared with the base model's and the candidate classifier's on the same events. Only if it is
the best is the network trained again on every movie and kept (with no classifier: the
classifier learnt the base network's probabilities).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: Patches of fine-tuning: cubes of this size, this many per batch, shifted up to this much around objects.
PATCH_SIZE, BATCH_SIZE, RANDOM_SHIFT = 32, 4, 8
#: Steps per epoch (the time budget sets the epochs), and the learning rate (small: the base is kept close).
STEPS_PER_EPOCH = 10
LEARNING_RATE = 1e-4
#: Half size (frames, pixels) of the box around a false detection whose event voxels become spot voxels.
FALSE_BOX = (3, 4)


def corrected_target(labels: np.ndarray, candidates: pd.DataFrame, verdict: np.ndarray, real: pd.DataFrame,
                     complete: bool) -> np.ndarray:
    """The training target of a movie: the base segmentation with the corrections applied (see the module)."""
    from ..events.targets import events_to_labels
    from ..labels import EVENT, SPOT

    target = np.array(labels, np.int8)
    if complete:
        target[target == EVENT] = SPOT
    else:
        ht, hy = FALSE_BOX
        n_frames, height, width = target.shape
        for t, y, x in np.round(candidates[verdict == 0][["t", "y", "x"]].to_numpy(float)).astype(int):
            box = target[max(t - ht, 0):min(t + ht + 1, n_frames), max(y - hy, 0):min(y + hy + 1, height),
                         max(x - hy, 0):min(x + hy + 1, width)]
            box[box == EVENT] = SPOT
    if len(real):
        painted = events_to_labels(real, target.shape, label=EVENT)
        target[painted == EVENT] = EVENT
    return target


def _training_movie(described, frames=None):
    """A :class:`~exodeepfinder.training.TrainingMovie` of one described movie (optionally a slice of frames)."""
    from ..training.data import prepare_movie

    reviewed = described.reviewed
    real = reviewed.real_events()
    target = corrected_target(described.labels, described.candidates, described.verdict, real, reviewed.complete)
    false = described.candidates[described.verdict == 0]
    objects = pd.concat([real[["t", "y", "x"]].assign(class_label=2), false[["t", "y", "x"]].assign(class_label=1)],
                        ignore_index=True)
    movie = reviewed.movie
    if frames is not None:
        start, stop = frames
        movie, target = movie[start:stop], target[start:stop]
        inside = (objects["t"] >= start) & (objects["t"] < stop)
        objects = objects[inside].assign(t=objects["t"][inside] - start)
    return prepare_movie(reviewed.name, movie, target, objects)


def _train(base_path, movies, seconds: float, seed: int, progress, log):
    """Train from the base weights on ``movies`` for about ``seconds``; return the trained weights file."""
    import torch

    from ..model.keras_weights import load_keras_unet, save_keras_weights
    from ..training import Stage, TimeBudget, Trainer, get_recipe
    from ..training.recipe import FINE_TUNING_LOSS

    torch.manual_seed(seed)
    network = load_keras_unet(base_path)  # the base's widths: the reference network's or a compact one's
    recipe = get_recipe(FINE_TUNING_LOSS, learning_rate=LEARNING_RATE)
    requested = [Stage(PATCH_SIZE, BATCH_SIZE, RANDOM_SHIFT, 1000, STEPS_PER_EPOCH)]
    trainer = Trainer(network, movies, [], recipe=recipe, device="cpu", seed=seed, prefetch=False)
    budget = TimeBudget(seconds, requested, steps_per_valid=0, log=log)
    history = trainer.fit(requested, steps_per_valid=0, planner=budget, progress=progress)
    if len(history):
        log(f"fine-tuning: {len(history)} epoch(s) of up to {STEPS_PER_EPOCH} steps, last loss {history[-1].loss:.4f}")
    path = Path(tempfile.mkdtemp(prefix="edf_adapt_")) / "weights.h5"
    save_keras_weights(network, path)
    return path


def fine_tune_stage(described: list, network, folds, base_scores, classifier, *, max_minutes: float, seed: int = 0,
                    progress=None, log=print):
    """Fine-tune on the reviewed movies, measured on a held-out split; return ``(network, scores, stage)``.

    ``network`` is the fine-tuned U-Net to keep (None when it did not beat the base model and the
    classifier on held-out corrections), ``scores`` its held-out figures, ``stage`` the card's entry.
    """
    from ..events.classify import fit_classifier
    from ..model.weights import load_model
    from ..progress import within
    from .corrections import counts, describe, half, half_movie, scores_of

    started = time.monotonic()
    seconds = max_minutes * 60
    base_path = network.weights_path
    if len(described) > 1:
        train = [_training_movie(d) for d in described[:-1]]
        test = [(described[-1].reviewed, described[-1], None)]
        split = f"trained without {described[-1].reviewed.name}, measured on it"
    else:
        d = described[0]
        n_frames = np.shape(d.reviewed.movie)[0]
        train = [_training_movie(d, (0, n_frames // 2))]
        test = [(half_movie(d.reviewed, "second half"), d, "second half")]
        split = "trained on the first half of the frames, measured on the second"
    log(f"fine-tuning: held-out run ({split})")
    held_path = _train(base_path, train, 0.45 * seconds, seed, within(progress, 0, 45), log)
    tuned = load_model(held_path, device="cpu")
    base_counts, tuned_counts, classifier_counts = np.zeros(3, np.int64), np.zeros(3, np.int64), np.zeros(3, np.int64)
    for reviewed, d, which in test:
        again = describe(d.reviewed, tuned, 0.5, within(progress, 45, 55), keep_network=False)
        base, tuned_events, candidates = d.base, again.base, d.candidates
        if which is not None:
            n_frames = np.shape(d.reviewed.movie)[0]
            base, tuned_events = base[half(base, n_frames, which)], tuned_events[half(tuned_events, n_frames, which)]
            candidates = candidates[half(candidates, n_frames, which)]
        base_counts += counts(base, reviewed)
        tuned_counts += counts(tuned_events, reviewed)
        if classifier is not None:
            rows, real = _split_training_rows(described, which)
            try:
                fold_classifier = fit_classifier(rows, real, candidate_threshold=classifier.candidate_threshold)
                classifier_counts += counts(fold_classifier.classify(candidates), reviewed)
            except ValueError:
                classifier_counts += counts(base, reviewed)
    base_f1, tuned_scores = scores_of(base_counts)["f1"], scores_of(tuned_counts)
    rival = scores_of(classifier_counts)["f1"] if classifier is not None else base_f1
    rival_name = "the candidate classifier" if classifier is not None else "the base model"
    stage = {"split": split, "base_f1": base_f1, "fine_tuned_f1": tuned_scores["f1"], "rival_f1": rival}
    if not tuned_scores["f1"] > rival:
        stage.update(kept=False, decision=f"not kept: on held-out corrections its F1 {tuned_scores['f1']:.3f} did not "
                                          f"beat {rival_name}'s {rival:.3f} (base {base_f1:.3f}); the base weights "
                                          "are kept", seconds=round(time.monotonic() - started, 1))
        return None, tuned_scores, stage
    log("fine-tuning: it helps on held-out corrections; training on every movie")
    final_movies = [_training_movie(d) for d in described]
    left = max(seconds - (time.monotonic() - started), 30.0)
    final_path = _train(base_path, final_movies, left, seed, within(progress, 55, 100), log)
    stage.update(kept=True, decision=f"kept (held-out F1 {base_f1:.3f} -> {tuned_scores['f1']:.3f}, better than "
                                     f"{rival_name}'s {rival:.3f}); it replaces the classifier",
                 seconds=round(time.monotonic() - started, 1))
    return load_model(final_path, device="cpu"), tuned_scores, stage


def _split_training_rows(described, which):
    """Candidates with a known verdict outside the fine-tuning's held-out part (for the classifier it competes with)."""
    from .corrections import training_rows

    if which is None:
        return training_rows(described, list(range(len(described) - 1)))
    return training_rows(described, "first half")

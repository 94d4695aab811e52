"""Adapt the detector to a user's movies from their corrections (``exodeepfinder adapt``), with held-out figures.

Stage 1, the **candidate classifier**: the base U-Net's candidates (found at a lower event
probability than the default detection, so that recall is not lost) are labelled by the
corrections (accepted and added events are real, rejected ones are not) and a small classifier
(:mod:`~exodeepfinder.events.classify`) learns to tell them apart from their features
(:mod:`~exodeepfinder.events.features`).

Stage 2, **fine-tuning** the U-Net (:mod:`~exodeepfinder.adapt.finetune`), always from the base
weights, on every reviewed movie, within a time budget.

**Honest feedback**: each stage is first measured on corrections it did not learn from (leave one
movie out when there are several; with one movie, its first half of frames against its second
and back), against the base model on the same events. A stage that does not raise the held-out F1
is left out of the model folder (the base behaviour is kept for it), and the report says so.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..io.events import REVIEW_COLUMN
from ..progress import report, within
from .corrections import (ReviewedMovie, check_reviewed, counts, describe, held_out_folds, scores_of,  # noqa: F401
                          test_parts, training_rows)


@dataclass
class AdaptedModel:
    """What :func:`adapt` made: write it with :meth:`save` (a model folder, see :mod:`~exodeepfinder.model.folder`).

    Attributes
    ----------
    classifier : CandidateClassifier or None
        None when the stage did not help on held-out corrections (or was not run).
    network : UNet or None
        The fine-tuned U-Net, or None: the base weights are kept.
    base_weights : Path
    card : dict
        The model card: base weights and sha256, movies and corrections, held-out figures per stage.
    """

    classifier: object
    network: object
    base_weights: object
    card: dict = field(default_factory=dict)

    def save(self, path, *, overwrite: bool = False):
        """Write the model folder (atomically); return its path."""
        from ..model.folder import write_model_folder

        weights = self.network if self.network is not None else self.base_weights
        return write_model_folder(path, weights, self.card, self.classifier, overwrite=overwrite)

    def summary(self) -> str:
        """The held-out figures and what was kept, as lines of text."""
        return format_card(self.card)


def format_card(card: dict) -> str:
    """Lines of text: the held-out precision/recall/F1 per stage and the decision on each stage."""
    held = card.get("held_out", {})
    lines = [f"held-out corrections ({held.get('split', '')}):",
             f"  {'model':<28} {'found':>5} {'false':>5} {'missed':>6} {'precision':>9} {'recall':>6} {'F1':>6}"]
    for name, label in (("base", "base model"), ("classifier", "+ candidate classifier")):
        if name in held:
            s = held[name]
            lines.append(f"  {label:<28} {s['tp']:>5} {s['fp']:>5} {s['fn']:>6} {s['precision']:>9.3f} "
                         f"{s['recall']:>6.3f} {s['f1']:>6.3f}")
    tuning = card.get("stages", {}).get("fine_tuning")
    if tuning and "fine_tuned_f1" in tuning:
        lines.append(f"fine-tuning, {tuning['split']}: F1 base {tuning['base_f1']:.3f}, the best before it "
                     f"{tuning['rival_f1']:.3f}, fine-tuned U-Net {tuning['fine_tuned_f1']:.3f}")
    for name, stage in card.get("stages", {}).items():
        lines.append(f"{name.replace('_', ' ')}: {stage['decision']}")
    return "\n".join(lines)


def adapt(movies, base_model=None, *, max_minutes: float = 5.0, fine_tune: bool = True,
          candidate_threshold: float | None = None, seed: int = 0, progress=None, log=None) -> AdaptedModel:
    """Adapt the detector to reviewed movies: a candidate classifier, then a fine-tuned U-Net, each measured.

    Parameters
    ----------
    movies : sequence of ReviewedMovie
        Movies with their corrections (see :class:`ReviewedMovie`).
    base_model : str or Path, optional
        The weights to start from (a file, ``"bundled"``, ``"official"``; default: as
        :func:`~exodeepfinder.model.weights.load_model`; a model folder gives its weights, not its
        classifier). Every stage starts from these weights, never from an earlier adaptation.
    max_minutes : float
        Time budget of the fine-tuning stage (the classifier takes seconds).
    fine_tune : bool
        Run the fine-tuning stage (default: yes, within ``max_minutes``; 0 minutes skips it).
    candidate_threshold : float, optional
        Event probability from which a voxel belongs to a candidate (default:
        :data:`~exodeepfinder.events.classify.DEFAULT_CANDIDATE_THRESHOLD`).
    seed : int
        Seed of the fine-tuning's patch sampling.
    progress, log : callable, optional
        ``progress(done, 100)`` in percent (returning False cancels: raises Cancelled);
        ``log(line)`` with lines of text as the work advances (e.g. ``print``).

    Returns
    -------
    AdaptedModel
        ``.save(folder)`` writes the model folder; ``.card`` holds the held-out figures.

    Raises
    ------
    InputError
        One line: corrections outside a movie, an empty review, too few real or rejected events.
    """
    from ..events.classify import DEFAULT_CANDIDATE_THRESHOLD
    from ..model.weights import load_model

    started = time.monotonic()
    say = log or (lambda line: None)
    movies = list(movies)
    if not movies:
        raise InputError("no reviewed movies to adapt from")
    for reviewed in movies:
        check_reviewed(reviewed)
    threshold = DEFAULT_CANDIDATE_THRESHOLD if candidate_threshold is None else float(candidate_threshold)
    network = load_model(base_model, device="cpu")  # a model folder: its weights (its classifier is not used)
    base_path = network.weights_path
    network.classifier = None
    fine_tune = fine_tune and max_minutes > 0
    share = 40 if fine_tune else 95
    described = _describe_all(movies, network, threshold, within(progress, 0, share), fine_tune, say)

    # stage 1: the classifier, measured on held-out corrections
    folds = held_out_folds(described)
    final, helps, held_out, decision = classifier_stage(described, threshold)
    say(f"candidate classifier: {decision}")
    stages = {"candidate_classifier": {"decision": decision, "kept": bool(helps),
                                       "seconds": round(time.monotonic() - started, 1)}}
    base_scores = held_out["base"]
    report(progress, share, 100)

    # stage 2: fine-tuning (always from the base weights, on every reviewed movie)
    tuned = None
    if fine_tune:
        from .finetune import fine_tune_stage

        tuned, tuned_scores, tuned_stage = fine_tune_stage(described, network, folds, base_scores,
                                                           final if helps else None, max_minutes=max_minutes,
                                                           seed=seed, progress=within(progress, share, 100), log=say)
        if tuned_scores is not None:
            held_out["fine_tuning"] = tuned_scores
        stages["fine_tuning"] = tuned_stage
        say(f"fine-tuning: {tuned_stage['decision']}")
        if tuned is not None and helps:  # the classifier learnt the base network's probabilities
            helps = False
            stages["candidate_classifier"].update(kept=False, decision=decision + "; replaced by the fine-tuned U-Net")
    card = _model_card(described, network, base_path, threshold, held_out, stages, started)
    report(progress, 100, 100)
    return AdaptedModel(final if helps else None, tuned, base_path, card)


def _describe_all(movies, network, threshold, progress, keep_network, say) -> list:
    """Each reviewed movie detected with the base network and its candidates judged by the corrections."""
    described = []
    for i, reviewed in enumerate(movies):
        say(f"{reviewed.name}: detecting with the base model")
        step = within(progress, 100 * i / len(movies), 100 * (i + 1) / len(movies))
        described.append(describe(reviewed, network, threshold, step, keep_network=keep_network))
        d = described[-1]
        say(f"{reviewed.name}: {len(d.base)} detections, {len(d.candidates)} candidates "
            f"({int((d.verdict == 1).sum())} real, {int((d.verdict == 0).sum())} false by the corrections)")
    return described


def _model_card(described, network, base_path, threshold, held_out, stages, started) -> dict:
    """The model card of an adaptation: base weights, movies and corrections, held-out figures, stages."""
    from .._version import __version__
    from ..model.folder import sha256_of

    return {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "exodeepfinder_version": __version__,
        "base_weights": {"file": str(base_path), "sha256": sha256_of(base_path),
                         "source": getattr(network, "weights_source", "")},
        "movies": [{"name": d.reviewed.name, "shape": list(np.shape(d.reviewed.movie)),
                    "corrections": _correction_counts(d.reviewed),
                    "candidates": {"real": int((d.verdict == 1).sum()), "false": int((d.verdict == 0).sum())}}
                   for d in described],
        "n_corrections": int(sum(len(d.reviewed.corrections) for d in described)),
        "candidate_threshold": threshold,
        "held_out": held_out,
        "stages": stages,
        "minutes": round((time.monotonic() - started) / 60, 2),
    }


def classifier_stage(described: list, threshold: float):
    """Fit the candidate classifier and measure it on held-out corrections.

    Returns
    -------
    classifier : CandidateClassifier or None
        Fitted on every movie (None if it cannot be).
    helps : bool
        Whether it raised the held-out F1 (else the model folder keeps the base behaviour).
    held_out : dict
        ``split``, and ``base`` and ``classifier``: the held-out counts and scores.
    decision : str
    """
    from ..events.classify import fit_classifier

    folds = held_out_folds(described)
    split = "leave one movie out" if len(described) > 1 else "first half of the frames against the second, and back"
    base_counts, classifier_counts = np.zeros(3, np.int64), np.zeros(3, np.int64)
    fold_errors = []
    for train, test in folds:
        try:
            rows, real = training_rows(described, train)
            classifier = fit_classifier(rows, real, candidate_threshold=threshold)
        except InputError as err:
            fold_errors.append(str(err))
            classifier = None
        for reviewed, base, candidates in test_parts(described, test):
            base_counts += counts(base, reviewed)
            classifier_counts += counts(base if classifier is None else classifier.classify(candidates), reviewed)
    base_scores, classifier_scores = scores_of(base_counts), scores_of(classifier_counts)
    rows, real = training_rows(described, list(range(len(described))))
    try:
        final = fit_classifier(rows, real, candidate_threshold=threshold)
    except InputError as err:  # e.g. nothing rejected: the other stage may still learn
        final = None
        fold_errors.insert(0, str(err))
    helps = not fold_errors and classifier_scores["f1"] > base_scores["f1"]
    decision = (f"kept (held-out F1 {base_scores['f1']:.3f} -> {classifier_scores['f1']:.3f})" if helps else
                f"not kept: it did not raise the held-out F1 ({base_scores['f1']:.3f} -> "
                f"{classifier_scores['f1']:.3f}); the folder detects as the base model" if not fold_errors else
                f"not kept: {fold_errors[0]}")
    return final, helps, {"split": split, "base": base_scores, "classifier": classifier_scores}, decision


def _correction_counts(reviewed: ReviewedMovie) -> dict:
    if REVIEW_COLUMN not in reviewed.corrections.columns:
        return {"annotated": len(reviewed.corrections)}
    states = reviewed.corrections[REVIEW_COLUMN].value_counts()
    return {state: int(states.get(state, 0)) for state in ("accepted", "rejected", "added", "unreviewed")}

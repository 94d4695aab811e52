"""A calibrated confidence for detected events: the probability that an event is real.

The event ``score`` (:mod:`~exodeepfinder.events.score`) ranks events, but it is not a
probability: on movies unlike the training data true events can score 0.3 and false ones 0.6
(bench/evalsim/README.md). A :class:`Calibration` maps the score, and optionally a few other
measurements of each event, through a small logistic model (optionally followed by an increasing
isotonic map of its output) to ``confidence``, the probability that the event is a true one,
fitted on held-out simulated movies whose truth is known (``bench/calibrate.py``). It belongs to
one set of weights (their sha256): a calibration fitted for one model says nothing about another.

- :func:`fit_calibration`: fit one from events with a ``matched`` column (True for a true event);
  :func:`with_isotonic` adds an isotonic map of its output (:func:`isotonic_knots`);
- :func:`confidence` / :func:`add_confidence`: apply it to an events table;
- :func:`expected_calibration_error`, :func:`reliability_table`: how well confidences match
  the frequency of true events;
- :func:`calibration_to_dict` / :func:`calibration_from_dict`: plain JSON-able data (no pickle),
  with its provenance; :func:`read_calibration` and
  :func:`write_calibration` read and write it;
- :func:`calibration_for_weights`: the calibration shipped with the package for a weights file
  (the bundled model's, ``model/data/exodeepfinder_default.calibration.json``), or None.

Each input measurement goes through a fixed transform (:data:`TRANSFORMS`) and is standardised
with the mean and spread of the fitting data; a missing value (NaN, e.g. a ``peak_snr`` that
could not be measured) takes its transform's neutral value.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.calibration import read_calibration_document, write_calibration_document
from ..io.digest import file_sha256  # noqa: F401

#: Version of the JSON layout of a calibration.
FORMAT_VERSION = 1
#: Name of the calibrated column that detect adds.
CONFIDENCE_COLUMN = "confidence"
#: Events below this confidence are reported as uncertain ("review them first").
UNCERTAIN_BELOW = 0.5


def _logit(p, eps=0.005):
    p = np.clip(p, eps, 1 - eps)
    return np.log(p / (1 - p))


#: Transform of each measurement a calibration may use: ``(function, value for NaN)``.
TRANSFORMS = {
    "score": (lambda v: np.clip(v, 0, 1), 0.0),
    "logit_score": (lambda v: _logit(np.clip(v, 0, 1), 0.02), _logit(np.array(0.0), 0.02)),
    "probability": (lambda v: _logit(np.clip(v, 0, 1), 0.001), 0.0),
    "peak_snr": (lambda v: np.log1p(np.clip(v, 0, None)), 0.0),
    "peak_dff": (lambda v: np.clip(v, -0.5, 5.0), 0.0),
    "decay_ratio": (lambda v: np.clip(v, -1.0, 2.0), 0.0),
    "cluster_size": (lambda v: np.log(np.clip(v, 1, None)), 0.0),
    "spot_sigma": (lambda v: np.clip(v, 0, 6.0), 1.3),
    "duration": (lambda v: np.log1p(np.clip(v, 0, None)), 0.0),
}
#: The column each feature is computed from.
SOURCE_COLUMN = {"logit_score": "score"}


@dataclass
class Calibration:
    """A fitted map from event measurements to ``confidence``.

    Attributes
    ----------
    features : list of str
        Names in :data:`TRANSFORMS`, e.g. ``["logit_score"]`` or ``["logit_score", "peak_dff"]``.
    mean, scale : list of float
        Standardisation of each transformed feature.
    coefficients : list of float
        Logistic weights of the standardised features.
    intercept : float
    default_min_confidence : float
        The threshold ``detect`` applies by default (how it was chosen: ``provenance``).
    weights_sha256 : str
        The weights file it was fitted for ("" if not tied to one).
    provenance : dict
        Data, seeds, counts, ECE, criterion...: free-form, kept as is in the JSON.
    isotonic_x, isotonic_y : list of float
        Knots of an increasing map applied to the logistic output (linear between knots, flat
        beyond, clipped to :data:`ISOTONIC_LIMITS`); empty: none (the logistic output is the confidence).
    """

    features: list
    mean: list
    scale: list
    coefficients: list
    intercept: float
    default_min_confidence: float = 0.0
    weights_sha256: str = ""
    provenance: dict = field(default_factory=dict)
    isotonic_x: list = field(default_factory=list)
    isotonic_y: list = field(default_factory=list)


def feature_matrix(events: pd.DataFrame, features) -> np.ndarray:
    """The transformed (not standardised) features of ``events``, shape (n_events, n_features)."""
    columns = []
    for name in features:
        if name not in TRANSFORMS:
            raise ValueError(f"calibration: unknown feature {name!r} (known: {', '.join(TRANSFORMS)})")
        source = SOURCE_COLUMN.get(name, name)
        if source not in events.columns:
            raise ValueError(f"events: missing column {source!r} (needed by the calibration)")
        transform, neutral = TRANSFORMS[name]
        values = np.asarray(transform(events[source].to_numpy(float)), float)
        columns.append(np.where(np.isfinite(values), values, neutral))
    return np.column_stack(columns) if columns else np.zeros((len(events), 0))


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, sample_weight=None) -> tuple:
    """Penalised logistic regression by Newton's method; returns (coefficients, intercept)."""
    n, d = x.shape
    design = np.column_stack([np.ones(n), x])
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    beta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[0] = 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(design @ beta, -30, 30)))
        gradient = design.T @ (w * (p - y)) + penalty * beta
        hessian = (design * (w * p * (1 - p))[:, None]).T @ design + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta[1:], float(beta[0])


def fit_calibration(events: pd.DataFrame, features=("logit_score",), *, l2: float = 1.0, sample_weight=None,
                    default_min_confidence: float = 0.0, weights_sha256: str = "",
                    provenance: dict | None = None) -> Calibration:
    """Fit a calibration on events whose truth is known.

    Parameters
    ----------
    events : DataFrame
        Detected events with their measurements and ``matched`` (True for a true event).
    features : sequence of str
        Names in :data:`TRANSFORMS`.
    l2 : float
        Ridge penalty on the standardised coefficients (keeps small data sets sane).
    sample_weight : array-like, optional
        Weight of each event (e.g. to give two generators the same total weight).
    default_min_confidence, weights_sha256, provenance
        Stored as they are (see :class:`Calibration`).

    Returns
    -------
    Calibration
    """
    if "matched" not in events.columns:
        raise ValueError("events: missing column 'matched' (True for a true event)")
    outcome = events["matched"].astype(bool).to_numpy(float)
    if len(outcome) < 2 or outcome.min() == outcome.max():
        raise ValueError("events: need both true and false events to fit a calibration")
    x = feature_matrix(events, features)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    coefficients, intercept = _fit_logistic((x - mean) / scale, outcome, l2, sample_weight)
    return Calibration(list(features), mean.tolist(), scale.tolist(), coefficients.tolist(), intercept,
                       float(default_min_confidence), weights_sha256, dict(provenance or {}))


#: An isotonic map's confidence stays within these bounds (never certain from a few events).
ISOTONIC_LIMITS = (0.01, 0.99)


def isotonic_knots(x, outcome, sample_weight=None) -> tuple:
    """Weighted isotonic regression of ``outcome`` (0/1) on ``x`` by pooling adjacent violators.

    Returns
    -------
    x_knots, y_knots : ndarray
        Per pooled block, the weighted mean of ``x`` and the weighted fraction of true outcomes:
        increasing in both, to interpolate between (``np.interp``).

    >>> [v.tolist() for v in isotonic_knots([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])]
    [[0.1, 0.25, 0.4], [0.0, 0.5, 1.0]]
    """
    order = np.argsort(np.asarray(x, float), kind="stable")
    x = np.asarray(x, float)[order]
    y = np.asarray(outcome, float)[order]
    w = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, float)[order]
    blocks = []  # [total weight, weighted sum of y, weighted sum of x]
    for xi, yi, wi in zip(x, y, w):
        blocks.append([wi, wi * yi, wi * xi])
        while len(blocks) > 1 and blocks[-2][1] * blocks[-1][0] >= blocks[-1][1] * blocks[-2][0]:
            weight, sum_y, sum_x = blocks.pop()
            blocks[-1][0] += weight
            blocks[-1][1] += sum_y
            blocks[-1][2] += sum_x
    blocks = np.array(blocks)
    return blocks[:, 2] / blocks[:, 0], blocks[:, 1] / blocks[:, 0]


def with_isotonic(calibration: Calibration, events: pd.DataFrame, sample_weight=None) -> Calibration:
    """A copy of a logistic ``calibration`` followed by the isotonic map of its output fitted on ``events``.

    ``events`` have the measurements and ``matched``; ``sample_weight`` as in :func:`fit_calibration`.
    """
    if "matched" not in events.columns:
        raise ValueError("events: missing column 'matched' (True for a true event)")
    logistic = replace(calibration, isotonic_x=[], isotonic_y=[])
    x_knots, y_knots = isotonic_knots(confidence(events, logistic), events["matched"].astype(bool), sample_weight)
    return replace(logistic, isotonic_x=x_knots.tolist(), isotonic_y=y_knots.tolist())


def confidence(events: pd.DataFrame, calibration: Calibration) -> np.ndarray:
    """The calibrated probability that each event is real (float array, one per row)."""
    if not len(events):
        return np.zeros(0)
    x = (feature_matrix(events, calibration.features) - np.asarray(calibration.mean)) / np.asarray(calibration.scale)
    z = x @ np.asarray(calibration.coefficients, float) + calibration.intercept
    probability = 1 / (1 + np.exp(-np.clip(z, -30, 30)))
    if calibration.isotonic_x:
        probability = np.clip(np.interp(probability, calibration.isotonic_x, calibration.isotonic_y), *ISOTONIC_LIMITS)
    return probability


def add_confidence(events: pd.DataFrame, calibration: Calibration, min_confidence: float | None = None) -> pd.DataFrame:
    """A copy of ``events`` with ``confidence`` right after ``score``; only the events of at least ``min_confidence``.

    ``min_confidence`` None applies the calibration's ``default_min_confidence``; 0 keeps every event.
    """
    scored = events.drop(columns=[CONFIDENCE_COLUMN], errors="ignore")
    values = confidence(scored, calibration)
    where = scored.columns.get_loc("score") + 1 if "score" in scored.columns else len(scored.columns)
    scored.insert(where, CONFIDENCE_COLUMN, values)
    threshold = calibration.default_min_confidence if min_confidence is None else min_confidence
    return scored[scored[CONFIDENCE_COLUMN] >= threshold] if threshold > 0 else scored


def count_uncertain(events: pd.DataFrame, below: float = UNCERTAIN_BELOW) -> int:
    """How many events have a ``confidence`` under ``below`` (0 without a confidence column)."""
    if CONFIDENCE_COLUMN not in events.columns:
        return 0
    return int((events[CONFIDENCE_COLUMN].to_numpy(float) < below).sum())


def uncertain_message(events: pd.DataFrame, below: float = UNCERTAIN_BELOW) -> str | None:
    """"12 events are uncertain (confidence < 0.5): review them first", or None when there are none."""
    n = count_uncertain(events, below)
    if not n:
        return None
    verb, pronoun = ("s are", "them") if n > 1 else (" is", "it")
    return f"{n} event{verb} uncertain (confidence < {below:g}): review {pronoun} first"


def reliability_table(probability, outcome, bins: int = 10) -> pd.DataFrame:
    """Per equal-width bin of predicted probability: ``low, high, n, mean_probability, fraction_true``."""
    probability = np.asarray(probability, float)
    outcome = np.asarray(outcome, float)
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = index == b
        rows.append({"low": edges[b], "high": edges[b + 1], "n": int(inside.sum()),
                     "mean_probability": float(probability[inside].mean()) if inside.any() else np.nan,
                     "fraction_true": float(outcome[inside].mean()) if inside.any() else np.nan})
    return pd.DataFrame(rows)


def expected_calibration_error(probability, outcome, bins: int = 10) -> float:
    """ECE: the mean over events of |mean probability - fraction true| of their bin (equal-width bins).

    >>> round(expected_calibration_error([0.2, 0.2, 0.8, 0.8, 0.8], [0, 0, 1, 1, 0]), 4)
    0.16
    """
    table = reliability_table(probability, outcome, bins)
    filled = table[table["n"] > 0]
    if not len(filled):
        return float("nan")
    gap = (filled["mean_probability"] - filled["fraction_true"]).abs()
    return float((gap * filled["n"]).sum() / filled["n"].sum())


def calibration_to_dict(calibration: Calibration) -> dict:
    """Plain JSON-able data (see :class:`Calibration`)."""
    data = {"format": "exodeepfinder.calibration", "version": FORMAT_VERSION,
            "model": "logistic+isotonic" if calibration.isotonic_x else "logistic",
            "features": list(calibration.features), "mean": [float(v) for v in calibration.mean],
            "scale": [float(v) for v in calibration.scale],
            "coefficients": [float(v) for v in calibration.coefficients], "intercept": float(calibration.intercept)}
    if calibration.isotonic_x:
        data.update(isotonic_x=[float(v) for v in calibration.isotonic_x],
                    isotonic_y=[float(v) for v in calibration.isotonic_y])
    return {**data, "default_min_confidence": float(calibration.default_min_confidence),
            "weights_sha256": calibration.weights_sha256, "provenance": calibration.provenance}


def calibration_from_dict(data: dict) -> Calibration:
    """The :class:`Calibration` of :func:`calibration_to_dict`'s data; ValueError if it is not one."""
    if not isinstance(data, dict) or data.get("format") != "exodeepfinder.calibration":
        raise ValueError("not an exodeepfinder calibration (no format 'exodeepfinder.calibration')")
    if data.get("version") != FORMAT_VERSION or data.get("model") not in ("logistic", "logistic+isotonic"):
        raise ValueError(f"unsupported calibration version {data.get('version')} / model {data.get('model')}")
    isotonic_x = [float(v) for v in data.get("isotonic_x", [])] if data["model"] == "logistic+isotonic" else []
    isotonic_y = [float(v) for v in data.get("isotonic_y", [])] if data["model"] == "logistic+isotonic" else []
    if data["model"] == "logistic+isotonic" and (not isotonic_x or len(isotonic_x) != len(isotonic_y)
                                                  or np.any(np.diff(isotonic_x) < 0)
                                                  or np.any(np.diff(isotonic_y) < 0)):
        raise ValueError("calibration: isotonic_x and isotonic_y must be increasing lists of the same length")
    features = list(data["features"])
    for name in features:
        if name not in TRANSFORMS:
            raise ValueError(f"calibration: unknown feature {name!r}")
    lengths = {len(features), len(data["mean"]), len(data["scale"]), len(data["coefficients"])}
    if len(lengths) != 1:
        raise ValueError("calibration: features, mean, scale and coefficients differ in length")
    return Calibration(features, [float(v) for v in data["mean"]], [float(v) for v in data["scale"]],
                       [float(v) for v in data["coefficients"]], float(data["intercept"]),
                       float(data.get("default_min_confidence", 0.0)), str(data.get("weights_sha256", "")),
                       dict(data.get("provenance", {})), isotonic_x, isotonic_y)


def read_calibration(path) -> Calibration:
    """Read a calibration JSON file; InputError naming the file if it is not one."""
    document = read_calibration_document(path)
    try:
        return calibration_from_dict(document)
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{path}: {err}") from None


def write_calibration(calibration: Calibration, path, *, overwrite: bool = True) -> Path:
    """Write a calibration as indented JSON (atomically); return the path."""
    return write_calibration_document(calibration_to_dict(calibration), path, overwrite=overwrite)


#: Calibrations shipped with the package (beside the bundled weights).
SHIPPED_FOLDER = Path(__file__).resolve().parents[1] / "model" / "data"



def calibration_for_weights(weights_path) -> Calibration | None:
    """The shipped calibration fitted for this weights file (same sha256), or None.

    Looks at ``model/data/*.calibration.json`` of the package.
    """
    if weights_path is None or not Path(weights_path).is_file():
        return None
    shipped = sorted(SHIPPED_FOLDER.glob("*.calibration.json"))
    if not shipped:
        return None
    sha = file_sha256(weights_path)
    for path in shipped:
        calibration = read_calibration(path)
        if calibration.weights_sha256 == sha:
            return calibration
    return None


def calibration_for_model(model) -> Calibration | None:
    """The shipped calibration of a model from :func:`~exodeepfinder.model.weights.load_model`, or None."""
    return calibration_for_weights(getattr(model, "weights_path", None))

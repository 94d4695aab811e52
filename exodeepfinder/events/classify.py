"""The candidate classifier of a model folder: is a detected event real? (``exodeepfinder adapt``, stage 1)

A logistic regression on the features of :mod:`~exodeepfinder.events.features` (standardised,
missing values filled with the training medians), fitted with an L2 penalty on the events a user
accepted, added and rejected. Its output, the probability that an event is real, is the events
table's ``confidence`` column; detection with a model folder keeps the candidates whose
confidence reaches the classifier's ``threshold``.

Saved as plain JSON (numbers and feature names only): loading it parses numbers and checks
them, it cannot run code (no pickle).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .features import FEATURE_COLUMNS, feature_table

#: ``format`` of a classifier file.
CLASSIFIER_FORMAT = "exodeepfinder-candidate-classifier"
CLASSIFIER_VERSION = 1
#: The column a classifier writes: the probability that an event is real.
CONFIDENCE_COLUMN = "confidence"
#: Default event probability from which a voxel belongs to a candidate (the default detection: the
#: most probable class, i.e. at least 1/3 and usually > 0.5).
DEFAULT_CANDIDATE_THRESHOLD = 0.25
#: L2 penalty of the logistic regression (on standardised features), and the default decision threshold.
DEFAULT_PENALTY = 1.0
DEFAULT_THRESHOLD = 0.5


@dataclass
class CandidateClassifier:
    """A fitted logistic regression on :data:`~exodeepfinder.events.features.FEATURE_COLUMNS`.

    Attributes
    ----------
    features : list of str
        Feature names, in the order of the coefficients.
    fill, mean, scale, coefficients : ndarray of float
        Per feature: the value of a missing feature, the standardisation, the weight.
    intercept : float
    threshold : float
        Events of ``confidence >= threshold`` are kept.
    candidate_threshold : float
        Event probability from which a voxel belongs to a candidate event.
    info : dict
        Free description (training counts), saved with the classifier.
    """

    features: list
    fill: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    coefficients: np.ndarray
    intercept: float
    threshold: float = DEFAULT_THRESHOLD
    candidate_threshold: float = DEFAULT_CANDIDATE_THRESHOLD
    info: dict = field(default_factory=dict)

    def _matrix(self, events: pd.DataFrame) -> np.ndarray:
        values = feature_table(events)[self.features].to_numpy(float)
        values = np.where(np.isnan(values), self.fill[None, :], values)
        return (values - self.mean) / self.scale

    def predict_proba(self, events: pd.DataFrame) -> np.ndarray:
        """Probability that each event is real, shape (n,); see :func:`~exodeepfinder.events.features.feature_table`."""
        if len(events) == 0:
            return np.zeros(0)
        return _sigmoid(self._matrix(events) @ self.coefficients + self.intercept)

    def classify(self, events: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``events`` with the column ``confidence``, keeping the events of ``confidence >= threshold``."""
        scored = events.copy()
        scored[CONFIDENCE_COLUMN] = self.predict_proba(events)
        return scored[scored[CONFIDENCE_COLUMN] >= self.threshold].reset_index(drop=True)

    def to_dict(self) -> dict:
        """The JSON-ready description (what :func:`save_classifier` writes)."""
        return {"format": CLASSIFIER_FORMAT, "version": CLASSIFIER_VERSION, "model": "logistic regression",
                "features": list(self.features), "fill": _floats(self.fill), "mean": _floats(self.mean),
                "scale": _floats(self.scale), "coefficients": _floats(self.coefficients),
                "intercept": float(self.intercept), "threshold": float(self.threshold),
                "candidate_threshold": float(self.candidate_threshold), "info": self.info}


def _floats(values) -> list:
    return [float(v) for v in np.asarray(values, float)]


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, float)))


def fit_classifier(events: pd.DataFrame, real, *, penalty: float = DEFAULT_PENALTY,
                   threshold: float = DEFAULT_THRESHOLD,
                   candidate_threshold: float = DEFAULT_CANDIDATE_THRESHOLD) -> CandidateClassifier:
    """Fit the candidate classifier on events known to be real or not.

    Parameters
    ----------
    events : DataFrame
        Candidate events with the columns :func:`~exodeepfinder.events.features.feature_table` needs.
    real : array-like of bool, shape (n,)
        True for an event the user accepted or added, False for one the user rejected.
    penalty : float
        L2 penalty on the coefficients of the standardised features.
    threshold, candidate_threshold
        Stored with the classifier (see :class:`CandidateClassifier`).

    Returns
    -------
    CandidateClassifier

    Raises
    ------
    InputError
        If ``real`` does not hold both real and false events.
    """
    from scipy.optimize import minimize

    real = np.asarray(real, bool)
    if len(real) != len(events):
        raise ValueError(f"real: {len(real)} values for {len(events)} events")
    n_real, n_false = int(real.sum()), int((~real).sum())
    if n_real == 0 or n_false == 0:
        raise InputError(f"the corrections hold {n_real} real and {n_false} rejected event(s): the classifier "
                         "needs both (accept some detections and reject some)")
    values = feature_table(events)[FEATURE_COLUMNS].to_numpy(float)
    fill = np.nanmedian(np.where(np.isnan(values).all(0)[None, :], 0.0, values), axis=0)
    values = np.where(np.isnan(values), fill[None, :], values)
    mean, scale = values.mean(0), values.std(0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    x = (values - mean) / scale
    y = real.astype(float)

    def loss(w):
        z = x @ w[1:] + w[0]
        # log(1 + exp(z)) - y z, written stably
        value = np.logaddexp(0, z).sum() - (y * z).sum() + 0.5 * penalty * (w[1:] ** 2).sum()
        residual = _sigmoid(z) - y
        gradient = np.concatenate([[residual.sum()], x.T @ residual + penalty * w[1:]])
        return value, gradient

    start = np.zeros(x.shape[1] + 1)
    start[0] = np.log(max(n_real, 1) / max(n_false, 1))
    solution = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return CandidateClassifier(list(FEATURE_COLUMNS), fill, mean, scale, solution.x[1:], float(solution.x[0]),
                               threshold=threshold, candidate_threshold=candidate_threshold,
                               info={"trained_on": {"real": n_real, "rejected": n_false}})


def save_classifier(classifier: CandidateClassifier, path) -> Path:
    """Write the classifier as JSON (atomically)."""
    from ..io.atomic import atomic_output

    path = Path(path)
    with atomic_output(path, overwrite=True) as tmp:
        Path(tmp).write_text(json.dumps(classifier.to_dict(), indent=1) + "\n", encoding="utf-8")
    return path


def classifier_from_dict(data, source="classifier") -> CandidateClassifier:
    """Check a parsed classifier file and build the classifier (InputError naming ``source`` if it is wrong)."""
    def bad(what):
        return InputError(f"{source}: not a candidate classifier ({what})")

    if not isinstance(data, dict) or data.get("format") != CLASSIFIER_FORMAT:
        raise bad(f"'format' is not {CLASSIFIER_FORMAT!r}")
    if data.get("version") != CLASSIFIER_VERSION:
        raise bad(f"version {data.get('version')!r}, this ExoDeepFinder reads version {CLASSIFIER_VERSION}")
    features = data.get("features")
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        raise bad("'features' is not a list of names")
    unknown = sorted(set(features) - set(FEATURE_COLUMNS))
    if unknown:
        raise bad(f"unknown feature(s) {', '.join(unknown)}")
    arrays = {}
    for name in ("fill", "mean", "scale", "coefficients"):
        values = data.get(name)
        if not isinstance(values, list) or len(values) != len(features) or \
                not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise bad(f"'{name}' is not a list of {len(features)} numbers")
        arrays[name] = np.asarray(values, float)
        if not np.isfinite(arrays[name]).all():
            raise bad(f"'{name}' holds a non-finite number")
    if (arrays["scale"] <= 0).any():
        raise bad("'scale' holds a value <= 0")
    numbers = {}
    for name, low, high in (("intercept", -np.inf, np.inf), ("threshold", 0, 1), ("candidate_threshold", 0, 1)):
        value = data.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value) or \
                not low <= value <= high:
            raise bad(f"'{name}' is not a number in [{low}, {high}]")
        numbers[name] = value
    if numbers["candidate_threshold"] == 0:
        raise bad("'candidate_threshold' is 0")
    info = data.get("info", {})
    return CandidateClassifier(features, arrays["fill"], arrays["mean"], arrays["scale"], arrays["coefficients"],
                               float(numbers["intercept"]), threshold=float(numbers["threshold"]),
                               candidate_threshold=float(numbers["candidate_threshold"]),
                               info=info if isinstance(info, dict) else {})


def load_classifier(path) -> CandidateClassifier:
    """Read a classifier file written by :func:`save_classifier`: JSON numbers only, checked (never code)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: classifier file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a candidate classifier (not JSON: {err})") from None
    return classifier_from_dict(data, path)

"""How much to believe each detected event: the network's probability weighed by what the movie shows.

The mean event probability of a cluster (``probability``) says how event-like the network finds
it, but it is saturated: nearly every event kept scores above 0.98, false ones as much as true
ones (docs/robustness.md). Two measurements of the movie around the event separate them much
better, and they are what a biologist looks at in a trace:

- **contrast**: ``peak_snr``, the rise of the local intensity over the noise of that intensity.
  A vesicle docked all along, or noise, barely rises;
- **persistence**: ``decay_ratio``, the part of the rise left one frame after the peak. A fusing
  vesicle's dye spreads and fades over frames; a one-frame flash or a blink does not stay.

``score = probability x (1 - exp(-peak_snr / SNR_SCALE)) x min(max(decay_ratio, 0) / DECAY_RATIO_FULL, 1)``

so a clear rise (10 times the noise: factor 0.63; 30 times: 0.95) that is still at least
``DECAY_RATIO_FULL`` of its height one frame later keeps the network's probability, and the score
falls towards 0 as either is missing. Only what can be seen counts: a factor that cannot be
measured is 0, so an event with no frame before its peak (a spot already there when the movie
starts: the commonest false event at a movie's start) or none after it scores 0. The two constants were
set on simulated movies of the robustness grid (``bench/scores.py``), where this score ranks true
events above false ones with an AUC of 0.98 (a model trained with the reference recipe) and 0.86
(official weights), against 0.49 and 0.72 for the probability alone. For the bundled model, trained
with Dice + cross-entropy, the probability alone ranks better (0.87 against 0.74, docs/robustness.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Rise over noise (``peak_snr``) at which the contrast factor is ``1 - 1/e``.
SNR_SCALE = 10.0
#: ``decay_ratio`` from which the persistence factor is 1 (an event decaying with a time constant
#: of one frame keeps ``exp(-1) = 0.37`` of its height a frame later).
DECAY_RATIO_FULL = 0.3


def contrast_factor(peak_snr) -> np.ndarray:
    """``1 - exp(-peak_snr / SNR_SCALE)`` (0 for no rise, or where ``peak_snr`` is NaN)."""
    snr = np.nan_to_num(np.asarray(peak_snr, float), nan=0.0)
    return 1.0 - np.exp(-np.clip(snr, 0, None) / SNR_SCALE)


def persistence_factor(decay_ratio) -> np.ndarray:
    """``min(max(decay_ratio, 0) / DECAY_RATIO_FULL, 1)`` (0 where ``decay_ratio`` is NaN)."""
    ratio = np.nan_to_num(np.asarray(decay_ratio, float), nan=0.0)
    return np.clip(ratio / DECAY_RATIO_FULL, 0, 1)


def score_events(events: pd.DataFrame, min_score: float | None = None) -> pd.DataFrame:
    """Score detected and measured events.

    Parameters
    ----------
    events : DataFrame
        Events with ``probability``, the mean event probability of each cluster (or ``score``
        as :func:`~exodeepfinder.events.cluster.cluster_events` names it), and the ``peak_snr``
        and ``decay_ratio`` of :func:`~exodeepfinder.events.measure.measure_events`.
    min_score : float, optional
        Drop the events of lower score.

    Returns
    -------
    DataFrame
        A copy with ``score`` (see the module) right before ``probability``.

    Examples
    --------
    >>> events = pd.DataFrame({"probability": [1.0, 1.0, 0.99], "peak_snr": [40.0, 3.0, 40.0],
    ...                        "decay_ratio": [0.7, 0.7, 0.0]})
    >>> score_events(events)["score"].round(2).tolist()  # an event, a faint rise, a one-frame flash
    [0.98, 0.26, 0.0]
    """
    if "probability" not in events.columns:
        events = events.rename(columns={"score": "probability"})
    missing = [c for c in ("probability", "peak_snr", "decay_ratio") if c not in events.columns]
    if missing:
        raise ValueError(f"events: missing column(s) {', '.join(missing)} (measure the events first)")
    scored = events.drop(columns=["score"], errors="ignore")
    score = scored["probability"].to_numpy(float) * contrast_factor(scored["peak_snr"]) * \
        persistence_factor(scored["decay_ratio"])
    scored.insert(scored.columns.get_loc("probability"), "score", score)
    return scored if min_score is None else scored[scored["score"] >= min_score]

"""Event scores: true events score higher than the simulator's distractors at the same network probability."""

import numpy as np
import pandas as pd
import pytest

from exodeepfinder.events.evaluate import match_events
from exodeepfinder.events.measure import measure_events
from exodeepfinder.events.score import DECAY_RATIO_FULL, SNR_SCALE, score_events
from exodeepfinder.simulation import simulate_movie


def distractor_probes(spots: pd.DataFrame) -> pd.DataFrame:
    """One place per distractor where a detector could be fooled: a flash, the middle of a docked
    vesicle's stay, the first two switch-ons of a flickering or moving spot."""
    probes = []
    for _, spot in spots.sort_values("t").groupby("spot_id"):
        kind = spot["kind"].iloc[0]
        if kind == "flash":
            rows = [spot.iloc[0]]
        elif kind == "docked":
            rows = [spot.iloc[len(spot) // 2]]
        else:
            switch_on = np.flatnonzero(np.diff(spot["amplitude"].to_numpy()) > 0.5 * spot["amplitude"].max())
            rows = [spot.iloc[j + 1] for j in switch_on[:2]]
        probes += [(row["t"], row["y"], row["x"], kind) for row in rows]
    return pd.DataFrame(probes, columns=["t", "y", "x", "kind"])


@pytest.mark.parametrize("seed", [5, 6])
def test_true_events_outscore_distractors(seed):
    sim = simulate_movie((100, 96, 96), seed=seed, n_flashes=8, n_flickers=8)
    probes = pd.concat([sim.events[["t", "y", "x"]].assign(kind="event"), distractor_probes(sim.spots)],
                       ignore_index=True)
    # the network's probability saturates at 1 on true and false events alike (docs/robustness.md)
    scored = score_events(measure_events(sim.movie, probes, offset=100).assign(probability=1.0))
    assert scored["score"].between(0, 1).all()
    true = (scored["kind"] == "event").to_numpy()
    score = scored["score"].to_numpy()
    # AUC: how often a true event outscores a distractor
    auc = (score[true][:, None] > score[~true][None, :]).mean()
    assert auc >= 0.9, scored.groupby("kind")["score"].describe()
    median = scored.groupby("kind")["score"].median()
    assert median["event"] >= 0.7
    assert median["flash"] <= 0.2 and median["docked"] <= 0.2  # one frame only; no rise


def test_score_factors_and_missing_measurements():
    # a rise of SNR_SCALE x the noise; no baseline; a fall; no frame after the peak; no decay; half the full decay ratio
    events = pd.DataFrame({"probability": [0.9, 0.9, 0.9, 0.9, 0.5, 0.8],
                           "peak_snr": [SNR_SCALE, np.nan, -4.0, 1e6, 1e6, 1e6],
                           "decay_ratio": [DECAY_RATIO_FULL, 0.1, 0.9, np.nan, -0.2, DECAY_RATIO_FULL / 2]})
    scored = score_events(events)
    # what cannot be measured (no frame before or after the peak) is no evidence: factor 0
    np.testing.assert_allclose(scored["score"], [0.9 * (1 - np.exp(-1)), 0.0, 0.0, 0.0, 0.0, 0.4])
    assert list(scored.columns[:2]) == ["score", "probability"]
    with pytest.raises(ValueError, match="peak_snr"):
        score_events(events.drop(columns="peak_snr"))


def test_min_score_trades_recall_for_precision_on_detections():
    """Precision rises and recall falls as min_score rises, on events found in a simulated movie."""
    sim = simulate_movie((100, 96, 96), seed=8, n_flashes=10, n_flickers=10)
    distractors = distractor_probes(sim.spots)
    detected = pd.concat([sim.events[["t", "y", "x"]], distractors[["t", "y", "x"]]], ignore_index=True)
    scored = score_events(measure_events(sim.movie, detected, offset=100).assign(probability=1.0))
    curve = []
    for threshold in (0.0, 0.3, 0.5, 0.7):
        summary = match_events(scored[scored["score"] >= threshold], sim.events, tolerance=3).summary
        curve.append((summary["precision"], summary["recall"]))
    precision, recall = np.array(curve).T  # measured: 0.22, 0.48, 0.63, 0.82 and 1, 1, 1, 0.7
    assert np.all(np.diff(precision) > 0) and precision[-1] >= 0.75
    assert np.all(np.diff(recall) <= 0) and recall[0] == 1.0 and recall[2] >= 0.9

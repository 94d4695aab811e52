"""bench/calibrate.py's fitting side: the candidate calibrators and their cross-validation by movie.

No detection here: synthetic events of two "generators" whose truth follows a known law of
their score, so that what each calibrator should reach is known (seconds).
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ lives beside the package

from bench import calibrate as bench_calibrate  # noqa: E402
from exodeepfinder.events.calibrate import expected_calibration_error  # noqa: E402


def two_generators(temperature=2.0, seed=0, movies=10, per_movie=60):
    """Events of two generators, ``matched`` drawn from ``sigmoid(logit(score) / temperature)``."""
    rng = np.random.default_rng(seed)
    frames = []
    for generator, centre in (("evalsim", 0.4), ("ours", 0.7)):
        for movie in range(movies):
            score = np.clip(rng.beta(4 * centre, 4 * (1 - centre), per_movie), 0.03, 0.97)
            truth = 1 / (1 + np.exp(-np.log(score / (1 - score)) / temperature))
            frames.append(pd.DataFrame({"score": score, "probability": rng.uniform(0.9, 1, per_movie),
                                        "matched": rng.uniform(size=per_movie) < truth, "generator": generator,
                                        "movie": f"{generator}_{movie}", "truth": truth}))
    return pd.concat(frames, ignore_index=True)


def test_temperature_recovers_the_law_and_generators_weigh_the_same():
    events = two_generators(temperature=2.0)
    weights = bench_calibrate._weights(events)
    assert weights.mean() == pytest.approx(1.0)
    evalsim = (events["generator"] == "evalsim").to_numpy()
    assert weights[evalsim].sum() == pytest.approx(weights[~evalsim].sum())
    calibrator = bench_calibrate.Calibrator("temperature").fit(events, weights)
    assert calibrator.temperature == pytest.approx(2.0, rel=0.25)
    assert np.abs(calibrator.predict(events) - events["truth"]).max() < 0.08


def test_cross_validation_predicts_each_movie_from_the_others():
    events = two_generators()
    calibrator = bench_calibrate.Calibrator("logistic", ("logit_score",))
    predicted = bench_calibrate.cross_validated(events, calibrator, folds=5)
    flipped = events.copy()  # change one movie's outcomes: its own predictions must not move
    one = (flipped["movie"] == "ours_3").to_numpy()
    flipped.loc[one, "matched"] = ~flipped.loc[one, "matched"]
    again = bench_calibrate.cross_validated(flipped, calibrator, folds=5)
    np.testing.assert_allclose(again[one], predicted[one])
    assert not np.allclose(again[~one], predicted[~one])  # the other movies learnt from it


def test_compare_calibrators_ranks_a_well_specified_one_near_the_noise_floor(monkeypatch):
    events = two_generators(temperature=2.0, movies=12, per_movie=80)
    monkeypatch.setattr(bench_calibrate, "CALIBRATORS", [
        bench_calibrate.Calibrator("temperature"), bench_calibrate.Calibrator("logistic", ("logit_score",)),
        bench_calibrate.Calibrator("isotonic", ("logit_score",))])
    table = bench_calibrate.compare_calibrators(events, repeats=2)
    assert list(table["calibrator"]) == ["temperature", "logistic: logit_score", "isotonic: logit_score"]
    for generator in bench_calibrate.GENERATORS:  # each well specified: cross-validated ECE near sampling noise
        assert (table[f"ece_{generator}"] < table[f"floor_{generator}"] + 0.04).all()
    assert (table["ece_worse"] == table[["ece_evalsim", "ece_ours"]].max(axis=1)).all()
    # the score itself is miscalibrated (temperature 2): every calibrator beats it
    part = (events["generator"] == "evalsim").to_numpy()
    raw = expected_calibration_error(events["score"][part], events["matched"][part])
    assert table["ece_evalsim"].max() < raw - 0.03

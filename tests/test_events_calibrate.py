"""Event calibration: the confidence column, its JSON file, ECE, and detect's default threshold."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest

import exodeepfinder as edf
from exodeepfinder.cli import detect as detect_command
from exodeepfinder.errors import InputError
from exodeepfinder.events import calibrate
from exodeepfinder.events.calibrate import (Calibration, add_confidence, confidence, count_uncertain,
                                            expected_calibration_error, fit_calibration, isotonic_knots,
                                            reliability_table, uncertain_message, with_isotonic)
from exodeepfinder.events.calibrate import read_calibration, write_calibration
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.model.weights import BUNDLED_WEIGHTS
from exodeepfinder.simulation import simulate_movie

SHAPE = (48, 64, 64)
SHIPPED = calibrate.SHIPPED_FOLDER / "exodeepfinder_default.calibration.json"


def synthetic_events(n=4000, seed=0):
    """Events whose truth follows a known logistic law of their score and peak_dff."""
    rng = np.random.default_rng(seed)
    score = rng.uniform(0, 1, n)
    peak_dff = rng.gamma(2.0, 0.1, n)
    true_probability = 1 / (1 + np.exp(-(8 * score - 4 + 5 * (peak_dff - 0.2))))
    matched = rng.uniform(size=n) < true_probability
    return pd.DataFrame({"score": score, "peak_dff": peak_dff, "probability": rng.uniform(0.8, 1, n),
                         "matched": matched}), true_probability


def test_ece_by_hand_and_on_synthetic_data():
    # bins [0.2, 0.3): mean 0.2, none true -> 0.2 on 2 events; [0.8, 0.9): 0.8 vs 2/3 -> 0.133 on 3
    assert expected_calibration_error([0.2, 0.2, 0.8, 0.8, 0.8], [0, 0, 1, 1, 0]) == pytest.approx(0.16)
    rng = np.random.default_rng(1)
    probability = rng.uniform(0, 1, 50000)
    outcome = rng.uniform(size=probability.size) < probability
    assert expected_calibration_error(probability, outcome) < 0.01  # calibrated: only sampling noise
    shifted = np.clip(probability + 0.2, 0, 1)  # over-confident by 0.2 (less where clipped at 1)
    assert expected_calibration_error(shifted, outcome) == pytest.approx(0.18, abs=0.01)
    table = reliability_table(probability, outcome, bins=5)
    assert table["n"].sum() == probability.size and len(table) == 5
    assert np.allclose(table["fraction_true"], [0.1, 0.3, 0.5, 0.7, 0.9], atol=0.02)


def test_fit_is_calibrated_and_monotone():
    events, true_probability = synthetic_events()
    fitted = fit_calibration(events, ("score", "peak_dff"), l2=0.0)
    predicted = confidence(events, fitted)
    assert np.abs(predicted - true_probability).max() < 0.08
    held_out, _ = synthetic_events(seed=2)
    assert expected_calibration_error(confidence(held_out, fitted), held_out["matched"]) < 0.04
    score_only = fit_calibration(events, ("logit_score",))
    grid = pd.DataFrame({"score": np.linspace(0, 1, 101)})
    curve = confidence(grid, score_only)  # a higher score, a higher confidence (flat only where clipped)
    assert np.all(np.diff(curve) >= 0) and np.all(np.diff(curve[5:-5]) > 0)


def test_json_round_trip(tmp_path):
    events, _ = synthetic_events(500)
    fitted = fit_calibration(events, ("logit_score", "peak_dff", "probability"), default_min_confidence=0.3,
                             weights_sha256="ab" * 32, provenance={"data": {"seeds": [1, 2]}, "ece": 0.01})
    path = write_calibration(fitted, tmp_path / "model.calibration.json")
    data = json.loads(path.read_text())  # plain JSON
    assert data["format"] == "exodeepfinder.calibration" and data["provenance"]["data"]["seeds"] == [1, 2]
    again = read_calibration(path)
    assert again == fitted
    np.testing.assert_allclose(confidence(events, again), confidence(events, fitted))
    (tmp_path / "bad.json").write_text('{"format": "something else"}')
    with pytest.raises(InputError, match="bad.json: not an exodeepfinder calibration"):
        read_calibration(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(InputError, match="broken.json: not a JSON file"):
        read_calibration(tmp_path / "broken.json")


def test_isotonic_map_corrects_a_logistic_that_cannot_fit(tmp_path):
    # truth is a step in the score: a logistic in the score alone is too smooth, the isotonic map is not
    rng = np.random.default_rng(3)
    score = rng.uniform(0, 1, 6000)
    events = pd.DataFrame({"score": score, "matched": rng.uniform(size=score.size) < np.where(score > 0.6, 0.9, 0.2)})
    logistic = fit_calibration(events, ("score",), l2=0.0)
    isotonic = with_isotonic(logistic, events)
    assert isotonic.isotonic_x and logistic.isotonic_x == []  # a copy: the logistic is unchanged
    held_out = events.assign(matched=rng.uniform(size=score.size) < np.where(score > 0.6, 0.9, 0.2))
    ece_logistic = expected_calibration_error(confidence(held_out, logistic), held_out["matched"])
    ece_isotonic = expected_calibration_error(confidence(held_out, isotonic), held_out["matched"])
    assert ece_isotonic < 0.05 < 0.1 < ece_logistic  # held-out ECE: ~0.02-0.03 against ~0.13
    curve = confidence(pd.DataFrame({"score": np.linspace(0, 1, 101)}), isotonic)
    assert np.all(np.diff(curve) >= 0) and curve.min() >= 0.01 and curve.max() <= 0.99
    assert curve[:50].mean() == pytest.approx(0.2, abs=0.03) and curve[70:].mean() == pytest.approx(0.9, abs=0.03)
    # weights count as repeated events; pooled blocks are the weighted means
    x_knots, y_knots = isotonic_knots([0.1, 0.2, 0.3], [1, 0, 1], sample_weight=[1, 3, 1])
    assert x_knots.tolist() == pytest.approx([0.175, 0.3]) and y_knots.tolist() == pytest.approx([0.25, 1.0])
    path = write_calibration(isotonic, tmp_path / "isotonic.calibration.json")
    data = json.loads(path.read_text())
    assert data["model"] == "logistic+isotonic" and len(data["isotonic_x"]) == len(isotonic.isotonic_x)
    assert read_calibration(path) == isotonic
    data["isotonic_y"] = data["isotonic_y"][::-1]  # decreasing: refused
    (tmp_path / "bad_isotonic.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="bad_isotonic.json: calibration: isotonic_x and isotonic_y"):
        read_calibration(tmp_path / "bad_isotonic.json")


def test_add_confidence_threshold_and_uncertain_count():
    events = pd.DataFrame({"t": [1.0, 2, 3, 4], "score": [0.1, 0.4, 0.6, 0.9], "probability": 0.99})
    steep = Calibration(["score"], [0.0], [1.0], [20.0], -10.0, default_min_confidence=0.1)
    kept = add_confidence(events, steep)  # default threshold 0.1: drops 0.1 (conf 3e-4)
    assert list(kept.columns) == ["t", "score", "confidence", "probability"]
    assert kept["score"].tolist() == [0.4, 0.6, 0.9]
    assert len(add_confidence(events, steep, min_confidence=0)) == 4
    assert count_uncertain(kept) == 1
    assert uncertain_message(kept) == "1 event is uncertain (confidence < 0.5): review it first"
    assert uncertain_message(add_confidence(events, steep, 0)) == \
        "2 events are uncertain (confidence < 0.5): review them first"
    assert uncertain_message(events) is None  # no confidence column: nothing said


def test_weights_without_calibration(tmp_path):
    other = tmp_path / "other.h5"
    other.write_bytes(b"not the bundled weights")
    assert calibrate.calibration_for_weights(other) is None
    with pytest.raises(ValueError, match="no calibration"):
        edf.detect(np.zeros((8, 16, 16), np.uint16), object(), calibration=None, min_confidence=0.5)


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped calibration yet")
def test_shipped_calibration_of_the_bundled_model():
    shipped = read_calibration(SHIPPED)
    assert calibrate.calibration_for_weights(BUNDLED_WEIGHTS) == shipped
    assert 0 < shipped.default_min_confidence < 1
    provenance = shipped.provenance
    evalsim_seeds = provenance["data"]["evalsim"]["seeds"]
    assert all(800000 <= s < 900000 for s in evalsim_seeds)  # evalsim's calibration seeds, never its test seeds
    assert all(20000 <= s < 21000 for s in provenance["data"]["ours"]["seeds"])  # no training / test seed
    assert "worse of the two" in provenance["criterion"]
    # monotone in the score, every other measurement fixed
    grid = pd.DataFrame({"score": np.linspace(0, 1, 51), "probability": 0.95, "peak_dff": 0.1, "peak_snr": 5.0,
                         "decay_ratio": 0.5, "cluster_size": 40.0, "spot_sigma": 1.3, "duration": 3.0})
    curve = confidence(grid, shipped)
    assert np.all(np.diff(curve) >= 0) and curve[-1] > curve[0] + 0.5


@pytest.fixture(scope="module")
def movie_and_events(tmp_path_factory):
    """A small simulated movie, and its events detected by the bundled model without a calibration."""
    simulation = simulate_movie(SHAPE, n_events=6, n_spots=10, n_flashes=2, n_flickers=2, n_moving=1, seed=21)
    path = tmp_path_factory.mktemp("calibrated") / "movie.h5"
    write_h5(path, simulation.movie)
    model = edf.load_model("bundled", device="cpu")
    events = edf.detect(simulation.movie, model, calibration=None).events
    assert len(events) >= 4 and "confidence" not in events.columns
    return path, events


def test_detect_applies_the_default_and_prints_the_uncertain(movie_and_events, monkeypatch, capsys):
    path, events = movie_and_events
    scores = np.sort(events["score"].to_numpy())
    middle = scores[len(scores) // 2]  # confidence 0.5 at the median score
    steep = Calibration(["score"], [0.0], [1.0], [30.0], -30.0 * middle)
    steep.default_min_confidence = float(confidence(pd.DataFrame({"score": [scores[1]]}), steep)[0]) - 1e-6
    monkeypatch.setattr(calibrate, "calibration_for_model", lambda model: steep)
    expected = add_confidence(events, steep)  # the default threshold keeps all but the lowest score
    assert 0 < len(expected) < len(events)
    n_uncertain = count_uncertain(expected)
    assert n_uncertain >= 1

    folder = path.parent
    assert detect_command.main([str(path), "-mw", "bundled", "--gallery_size", "0"]) == 0
    out = capsys.readouterr().out
    written = pd.read_csv(folder / "movie_events.csv")
    assert "confidence" in written.columns and written.columns.get_loc("confidence") == \
        written.columns.get_loc("score") + 1
    assert len(written) == len(expected)
    assert (written["confidence"] >= steep.default_min_confidence).all()
    np.testing.assert_allclose(np.sort(written["score"]), np.sort(expected["score"]), rtol=1e-5)
    assert f"{len(expected)} events" in out
    assert f"{n_uncertain} event{'s are' if n_uncertain > 1 else ' is'} uncertain (confidence < 0.5)" in out

    assert detect_command.main([str(path), "-mw", "bundled", "--gallery_size", "0", "--min_confidence", "0",
                                "--overwrite"]) == 0
    capsys.readouterr()
    assert len(pd.read_csv(folder / "movie_events.csv")) == len(events)  # 0 keeps every event

    with h5py.File(path) as handle:
        movie = handle["dataset"][()]
    detection = edf.detect(movie, edf.load_model("bundled", device="cpu"))  # the API applies the same default
    assert detection.calibration is steep and detection.n_uncertain == n_uncertain
    assert len(detection.events) == len(expected)

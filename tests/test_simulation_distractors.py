"""The opt-in distractors of the simulator (transient bumps, blinks, docking steps, passing vesicles, focus
drift): each is in the movie with the set brightness, timing and motion, none is an event, and the
movies of the defaults do not change when they are off."""

from __future__ import annotations

import numpy as np
import pytest

from exodeepfinder.simulation import DEFAULT_RANGES, DISTRACTOR_RANGES, simulate_movie, simulate_randomized

QUIET = dict(n_spots=0, n_flashes=0, n_flickers=0, n_moving=0, n_events=0, bleaching_frames=1e9)
OFF = dict(n_bumps=0, n_blinks=0, n_steps=0, n_passing=0, focus_drift=0.0)


def _tracks(sim, kind):
    return [track for _, track in sim.spots[sim.spots["kind"] == kind].groupby("spot_id")]


def test_off_by_default_the_movies_do_not_change():
    for seed in (0, 5):
        default, off = simulate_movie((40, 48, 48), seed=seed), simulate_movie((40, 48, 48), seed=seed, **OFF)
        assert np.array_equal(default.movie, off.movie) and default.spots.equals(off.spots)
    assert not {"bump", "blink", "docking_step", "undocking_drop", "passing"} & set(default.spots["kind"])
    # the randomiser draws them only when asked
    plain = simulate_randomized((40, 48, 48), seed=3)
    assert set(plain.params["randomized"]) == set(DEFAULT_RANGES) and plain.params["n_bumps"] == 0
    assert plain.params["focus_drift"] == 0.0


def test_a_transient_bump_is_in_the_movie_and_not_an_event():
    sim = simulate_movie((30, 48, 48), n_bumps=1, bump_amplitude=600.0, bump_tau=(2.0, 2.0), background=100.0,
                         read_noise=1.0, seed=2, **QUIET)
    (bump,) = _tracks(sim, "bump")
    assert len(sim.events) == 0
    t0, y, x = int(bump.t.iloc[0]), int(round(bump.y.iloc[0])), int(round(bump.x.iloc[0]))
    # a one-frame rise, then a decay of time constant 2 frames, over 3 tau + 1 frames (cut at the movie's end)
    assert len(bump) == min(7, 30 - t0) and 0.7 * 600 <= bump.amplitude.iloc[0] <= 1.3 * 600
    assert np.allclose(bump.amplitude.to_numpy()[1:] / bump.amplitude.to_numpy()[:-1], np.exp(-0.5))
    if t0 > 0:  # the rise, in counts: the bump's photons at its centre (sub-pixel offset at most 0.5 px)
        rise = float(sim.movie[t0, y, x]) - float(sim.movie[t0 - 1, y, x])
        expected = bump.amplitude.iloc[0] * np.exp(-0.25 / bump.sigma.iloc[0] ** 2)
        assert expected - 5 * np.sqrt(bump.amplitude.iloc[0] + 200) < rise < bump.amplitude.iloc[0] + 100
    # beside events, the bumps stay out of the events table
    busy = simulate_movie((60, 64, 64), n_events=6, n_bumps=8, seed=4)
    assert len(busy.events) == 6 and busy.spots["kind"].eq("bump").any()
    assert set(busy.events["kind"]) <= {"arrived_and_fused", "docked_then_fused"}
    # by default a bump is 0.2 times as bright as the events (before the per-object factor 0.7-1.3)
    peaks = [track.amplitude.iloc[0] for track in _tracks(busy, "bump")]
    assert all(0.7 * 80 - 1e-6 <= peak <= 1.3 * 80 + 1e-6 for peak in peaks)


def test_focus_drift_changes_the_fluorescence_by_the_set_amount():
    shape, common = (50, 64, 64), dict(background=400.0, offset=100.0, read_noise=1.0, seed=1, **QUIET)
    steady, drifting = simulate_movie(shape, **common), simulate_movie(shape, focus_drift=-0.3, **common)
    for sim, change in ((steady, 0.0), (drifting, -0.3)):
        signal = sim.movie.astype(float).mean(axis=(1, 2)) - 100.0
        assert signal[-1] / signal[0] == pytest.approx(1 + change, abs=0.01)
        assert signal[25] / signal[0] == pytest.approx(1 + change * 25 / 49, abs=0.01)  # linear
    with pytest.raises(ValueError, match="focus_drift"):
        simulate_movie((10, 32, 32), focus_drift=-1.0)


def test_blinks_switch_on_for_the_set_frames():
    sim = simulate_movie((200, 64, 64), n_blinks=6, blink_frames=(2, 3), seed=3, **QUIET)
    tracks = _tracks(sim, "blink")
    assert len(tracks) >= 4  # a blink starting in the last frames may be cut
    for track in tracks:
        frames = track.t.to_numpy(int)
        runs = np.split(frames, np.flatnonzero(np.diff(frames) > 1) + 1)
        assert 1 <= len(runs) <= 4 and all(len(run) <= 3 for run in runs)
        assert all(len(run) >= 2 for run in runs[:-1])  # only the last may be cut by the movie's end
        assert np.ptp(track.amplitude) < 1e-3 * track.amplitude.max()  # on at one brightness


def test_docking_steps_rise_and_undocking_drops_fall_in_one_frame():
    sim = simulate_movie((300, 64, 64), n_steps=12, spot_fluctuation=0.0, spot_fade=(6, 6), seed=8, **QUIET)
    rises, drops = _tracks(sim, "docking_step"), _tracks(sim, "undocking_drop")
    assert rises and drops
    for track in rises:
        if track.t.iloc[0] > 0:  # appears at full brightness, fades out over 6 frames
            assert track.amplitude.iloc[0] == pytest.approx(track.amplitude.max())
    for track in drops:
        if track.t.iloc[-1] < 299:  # seen at full brightness in its last frame, gone in the next
            assert track.amplitude.iloc[-1] == pytest.approx(track.amplitude.max())
            if track.t.iloc[0] > 0 and len(track) > 6:
                assert track.amplitude.iloc[0] < 0.2 * track.amplitude.max()  # it came slowly


def test_passing_vesicles_are_wide_and_fast():
    sim = simulate_movie((100, 96, 96), n_passing=3, passing_speed=(3.0, 3.0), passing_sigma=(4.0, 5.0), seed=6,
                         **QUIET)
    tracks = _tracks(sim, "passing")
    assert len(tracks) == 3
    for track in tracks:
        assert track.sigma.between(4.0, 5.0).all()
        steps = np.hypot(np.diff(track.y), np.diff(track.x)) / np.diff(track.t)
        assert np.allclose(steps, 3.0)


def test_randomised_distractors_follow_their_ranges():
    sim = simulate_randomized((100, 96, 96), seed=11, ranges={**DISTRACTOR_RANGES, "bump_rate": (20, 20),
                                                                "event_amplitude": (500, 500), "background": 400})
    drawn = sim.params["randomized"]
    assert set(drawn) == set(DEFAULT_RANGES) | set(DISTRACTOR_RANGES)
    assert -0.3 <= sim.params["focus_drift"] == drawn["focus_drift"] <= 0.3
    # bumps of ΔF/F0 0.1-0.4 over a background of 400 (fainter than half the events: 250)
    assert sim.params["bump_amplitude"] == pytest.approx(min(drawn["bump_contrast"] * 400, 250))
    # 20 bumps per 100 frames per 100 x 100 pixels: about 18 in this movie (Poisson)
    assert 6 <= sim.params["n_bumps"] <= 34 and len(_tracks(sim, "bump")) == sim.params["n_bumps"]
    with pytest.raises(ValueError, match="unknown setting"):
        simulate_randomized((20, 32, 32), seed=1, ranges={"bump_count": (1, 2)})


def test_the_training_script_groups_draw_valid_distractor_movies():
    from _scripts import load_script

    from exodeepfinder.simulation.randomize import check_ranges

    script = load_script("scripts/train_default_model.py")
    name, group = script.extra_group("distractors:5")
    assert (name, group["n_movies"], group["seed"]) == ("distractors", 5, 8000)
    assert script.extra_group("bumps:500")[1]["n_movies"] == 24 and script.extra_group("dim")[1]["n_movies"] == 24
    for _, group in script.EXTRA_GROUPS.items():
        merged = check_ranges(group["ranges"])
        assert set(group["ranges"]) <= set(merged)
    sim = simulate_randomized((100, 128, 128), seed=8000, ranges=script.EXTRA_GROUPS["bumps"]["ranges"])
    drawn = sim.params["randomized"]
    assert 4 <= drawn["bump_rate"] <= 10 and 0.1 <= drawn["bump_contrast"] <= 0.4
    # 4-10 bumps per 100 frames per 100 x 100 px: 6.6-16 expected in this movie (Poisson)
    assert 1 <= sim.params["n_bumps"] == len(_tracks(sim, "bump")) <= 35
    assert sim.params["bump_amplitude"] == pytest.approx(
        min(drawn["bump_contrast"] * drawn["background"], 0.5 * drawn["event_amplitude"]))


def test_simulate_help_lists_the_distractor_flags_and_ranges(capsys):
    from exodeepfinder.cli import main as cli

    with pytest.raises(SystemExit) as exit_status:
        cli.main(["simulate", "--help"])
    assert exit_status.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--n_bumps", "--bump_amplitude", "--bump_tau", "--n_blinks", "--blink_frames", "--n_steps",
                 "--n_passing", "--passing_speed", "--passing_sigma", "--focus_drift"):
        assert flag in text
    assert "bump_rate 0 8" in text and "focus_drift -0.3 0.3" in text

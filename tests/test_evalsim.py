"""The evaluation simulator (bench/evalsim): movies of every family, visible events, reproducible
seeds, files that the package's readers read back.

bench/evalsim is a second, independent generator used only to evaluate detection
(bench/generalisation.py); these tests check the generator itself on small movies (seconds).
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ lives beside the package

from bench.evalsim import CALIBRATION_SEEDS, FAMILIES, TEST_SEEDS, seeds_of, simulate  # noqa: E402
from bench.evalsim.__main__ import main as evalsim_main  # noqa: E402
from bench.evalsim.optics import render_spots  # noqa: E402

SHAPE = (60, 64, 64)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_gives_a_movie_with_its_truth(family):
    sim = simulate(family, 3, shape=SHAPE, n_events=4)
    assert sim.movie.shape == SHAPE and sim.movie.dtype == np.uint16
    assert sim.mask.shape == SHAPE[1:] and sim.mask.dtype == bool and 0.1 < sim.mask.mean() < 0.9
    events = sim.events
    assert len(events) == 4
    assert list(events.columns[:4]) == ["t", "y", "x", "class_label"]
    assert events["t"].between(1, SHAPE[0] - 1).all()
    assert events["y"].between(0, SHAPE[1] - 1).all() and events["x"].between(0, SHAPE[2] - 1).all()
    assert set(events["origin"]) <= {"docked", "arrived"} and set(events["release"]) <= {"spreading", "in_place"}
    assert (events["amplitude"] > 0).all() and (events["decay_tau_s"] > 0).all()
    # fusion never dims the vesicle: the event's photons exceed those of the vesicle before it
    assert (events["amplitude"] > events["pre_photons"]).all()
    # nothing but camera noise outside the cell: the baseline of ~100 counts
    outside = sim.movie[:, ~sim.mask].astype(float)
    assert abs(np.median(outside) - 100) < 5
    assert sim.metadata["pixel_size_um"] == pytest.approx(0.16)
    assert sim.metadata["frame_interval_s"] == FAMILIES[family].frame_interval_s


def test_events_rise_clearly_at_their_frame():
    sim = simulate("default", 7, shape=SHAPE, n_events=4)
    movie = sim.movie.astype(float)
    for event in sim.events.itertuples():
        t, y, x = int(event.t), int(round(event.y)), int(round(event.x))
        local = movie[:, y - 1:y + 2, x - 1:x + 2].mean(axis=(1, 2))
        before = local[t - 6:t - 1]
        assert local[t] - before.mean() > 5 * max(before.std(), 1.0), (event.Index, local[t - 6:t + 2])
        # the truth says how much: the expected rise at the event's pixel
        assert event.true_dff > 0.2
    assert (sim.events["t"] >= 6).all()  # a baseline before every event


def test_events_are_inside_the_cell():
    sim = simulate("crowded", 11, shape=SHAPE, n_events=5)
    rows, cols = sim.events["y"].round().astype(int), sim.events["x"].round().astype(int)
    assert sim.mask[rows, cols].all()


def test_full_fusion_spreads_and_kiss_and_run_stays():
    from bench.evalsim.events import event_profile

    event = type("Event", (), dict(plateau_s=0.0, rise_s=0.0, amplitude=1000.0, decay_tau_s=2.0,
                                   diffusion_um2_s=0.05, release="spreading"))
    total, width = event_profile(event, np.array([0.0, 1.0]), 0.16, 0.2)
    assert width[1] > 2 * width[0] and total[1] == pytest.approx(1000 * np.exp(-0.5))
    event.release = "in_place"
    total, width = event_profile(event, np.array([0.0, 1.0]), 0.16, 0.2)
    assert width[1] == width[0] and total[1] == pytest.approx(1000 * np.exp(-0.5))


def test_spots_keep_their_photons():
    image = render_spots((40, 40), [20.3, 14.0], [15.7, 25.2], [500.0, 200.0], [0.9, 3.0])
    assert image.sum() == pytest.approx(700, rel=1e-4)  # all of them fall inside the image
    assert np.unravel_index(image.argmax(), image.shape) == (20, 16)


def test_seeds_reproduce_and_differ():
    first = simulate("emccd", 5, shape=(30, 48, 48), n_events=2)
    again = simulate("emccd", 5, shape=(30, 48, 48), n_events=2)
    other = simulate("emccd", 6, shape=(30, 48, 48), n_events=2)
    np.testing.assert_array_equal(first.movie, again.movie)
    assert first.events.equals(again.events)
    assert not np.array_equal(first.movie, other.movie)
    # another family with the same seed is another movie
    assert not np.array_equal(first.movie, simulate("default", 5, shape=(30, 48, 48), n_events=2).movie)


def test_seed_ranges_do_not_overlap():
    assert set(TEST_SEEDS).isdisjoint(CALIBRATION_SEEDS)
    assert seeds_of("test", 2) == [900000, 900001] and seeds_of("calibration", 1, first=3) == [800003]
    with pytest.raises(ValueError):
        seeds_of("training", 1)


def test_generate_writes_what_the_package_reads(tmp_path, capsys):
    import h5py

    import exodeepfinder as edf

    assert evalsim_main(["generate", "--family", "default", "--n", "1", "--seed", "4", "-o", str(tmp_path),
                         "--shape", "30", "48", "48", "--events", "2"]) == 0
    folder = tmp_path / "default_4"
    sim = simulate("default", 4, shape=(30, 48, 48), n_events=2)
    movie = edf.read_movie(folder / "movie.h5")
    assert movie.dtype == np.uint16
    np.testing.assert_array_equal(movie, sim.movie)
    with h5py.File(folder / "movie.h5") as handle:
        assert handle.attrs["pixel_size_um"] == pytest.approx(0.16)
        assert handle.attrs["frame_interval_s"] == pytest.approx(0.3)
    for name in ("truth.csv", "expert_annotation.xml"):
        events = edf.read_events(folder / name)
        np.testing.assert_allclose(events[["t", "y", "x"]], sim.events[["t", "y", "x"]], atol=1e-3)
        assert (events["class_label"] == 1).all()
    truth = edf.read_events(folder / "truth.csv")
    assert list(truth["origin"]) == list(sim.events["origin"])
    import tifffile

    np.testing.assert_array_equal(tifffile.imread(folder / "mask.tif").astype(bool), sim.mask)
    # an existing folder is never overwritten without --overwrite
    assert evalsim_main(["generate", "--family", "default", "--n", "1", "--seed", "4", "-o", str(tmp_path),
                         "--shape", "30", "48", "48", "--events", "2"]) == 1
    assert "already holds" in capsys.readouterr().err


def test_candidates_table_tells_true_from_false_and_what_the_false_sat_on():
    from bench.generalisation import candidates_table
    from exodeepfinder.events.evaluate import match_events
    from exodeepfinder.io.events import make_events

    sim = simulate("default", 8, shape=SHAPE, n_events=3)
    docked = sim.objects[(sim.objects["kind"] == "docked") & (sim.objects["frame"] == 30)].iloc[0]
    truth = sim.events
    detected = make_events(list(truth["t"] + 1) + [30, 45], list(truth["y"]) + [docked["y"], 2.0],
                           list(truth["x"]) + [docked["x"], 2.0], 1, score=[0.9, 0.8, 0.7, 0.3, 0.2])
    table = candidates_table(detected, truth, sim.objects, match_events(detected, truth))
    assert table["matched"].tolist() == [True, True, True, False, False]
    assert table["truth_release"].iloc[:3].tolist() == truth["release"].tolist()
    assert table["truth_amplitude"].iloc[3:].isna().all()
    assert table["near_kind"].iloc[3] == "docked" and table["near_kind"].iloc[4] == "none"

"""Training-set preparation: the built-in spot detector, the merge, the dataset layout, external detectors.

Matching rule of the detector tests: the detections of a frame are its 4-connected blobs, each at
its centroid. A simulated spot (``sim.spots``, one row per spot per frame) counts as found if a
blob centroid of that frame lies within 3 px of it. A blob is a false detection if no simulated
spot of that frame (of any brightness) lies within 3 px of its centroid. Recall is measured on the
spots bright enough to be seen (>= 100 photons in the centre pixel, about 6 noise standard
deviations above the cell background): the simulator fades docked vesicles in and out, and their
first and last frames are invisible. Movies are simulated without fusion events (``n_events=0``):
events are bright spots too and would count as false detections.
"""

import sys

import numpy as np
import pytest
from scipy import ndimage as ndi

from exodeepfinder.errors import Cancelled, InputError
from exodeepfinder.events.targets import events_to_labels
from exodeepfinder.io.events import make_events
from exodeepfinder.simulation.simulate import simulate_movie
from exodeepfinder.training_data import (detect_spots, merge_detector_expert, split_movies,
                                         structure_training_dataset)
from exodeepfinder.training_data.external_detector import parse_atlas_args, run_detector_command
from exodeepfinder.training_data.spots import log_filter, select_scale

MATCH_PX = 3.0
VISIBLE_PHOTONS = 100.0


def blob_centroids(mask):
    """(t, y, x) centroid of every 4-connected blob of every frame."""
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndi.generate_binary_structure(2, 1)
    labels, n = ndi.label(mask, structure=structure)
    if n == 0:
        return np.zeros((0, 3))
    return np.asarray(ndi.center_of_mass(mask, labels, range(1, n + 1)))


def match_spots(mask, spots):
    """Return (recall on visible spots, fraction of false blobs, number of blobs)."""
    centroids = blob_centroids(mask)
    found = visible = false = 0
    for t in range(mask.shape[0]):
        truth = spots[spots.t == t]
        detected = centroids[centroids[:, 0] == t, 1:]
        bright = truth.amplitude.to_numpy() >= VISIBLE_PHOTONS
        visible += int(bright.sum())
        if len(detected) == 0:
            continue
        if len(truth) == 0:
            false += len(detected)
            continue
        distance = np.hypot(*(detected[:, None, :] - truth[["y", "x"]].to_numpy()[None]).transpose(2, 0, 1))
        false += int((distance.min(axis=1) > MATCH_PX).sum())
        found += int((distance.min(axis=0)[bright] <= MATCH_PX).sum())
    return found / visible, false / max(len(centroids), 1), len(centroids)


@pytest.mark.parametrize("seed", [0, 1])
def test_detector_finds_simulated_spots(seed):
    sim = simulate_movie((60, 128, 160), n_events=0, n_spots=40, seed=seed)
    mask = detect_spots(sim.movie)
    assert mask.shape == sim.movie.shape and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    recall, false_fraction, n_blobs = match_spots(mask, sim.spots)
    assert n_blobs > 500
    assert recall >= 0.90, recall
    assert false_fraction <= 0.10, false_fraction


def test_detector_false_alarm_rate_on_noise():
    # A flat Poisson background has no spot: the fraction of pixels kept is of the order of
    # pval, lowered further by the area limit.
    rng = np.random.default_rng(0)
    movie = rng.poisson(300, (20, 96, 128)).astype(np.uint16)
    assert detect_spots(movie, pval=0.001, area_limit=3).mean() < 0.002
    # a permissive test keeps many more pixels: the threshold really follows pval
    assert detect_spots(movie, pval=0.2, area_limit=1).mean() > 0.05


def test_area_limit_removes_small_blobs():
    sim = simulate_movie((10, 96, 96), n_events=0, n_spots=15, seed=3)
    loose = detect_spots(sim.movie, area_limit=1, scale=1.5)
    strict = detect_spots(sim.movie, area_limit=12, scale=1.5)
    assert strict.sum() < loose.sum()
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndi.generate_binary_structure(2, 1)
    labels, n = ndi.label(strict, structure=structure)
    assert n > 0 and np.bincount(labels.ravel())[1:].min() >= 12


def test_scale_selection_follows_spot_size():
    # the scale of best signal-to-noise grows with the spot size
    small = simulate_movie((4, 96, 96), n_events=0, n_spots=30, spot_sigma=(0.8, 0.9), seed=1).movie
    large = simulate_movie((4, 96, 96), n_events=0, n_spots=30, spot_sigma=(2.2, 2.4), seed=1).movie
    assert select_scale(small) < select_scale(large)


def test_log_filter_peaks_on_a_gaussian_spot():
    yy, xx = np.mgrid[0:41, 0:41]
    frame = 100 * np.exp(-((yy - 20) ** 2 + (xx - 20) ** 2) / (2 * 1.5 ** 2))
    response = log_filter(frame[None], 1.5)[0]
    assert np.unravel_index(response.argmax(), response.shape) == (20, 20)
    # scale-normalised: the response at the centre is largest near the spot's own scale
    centre = [log_filter(frame[None], s)[0, 20, 20] for s in (0.75, 1.5, 3.0)]
    assert centre[1] > centre[0] and centre[1] > centre[2]


def test_detector_reads_lazy_movies_in_blocks_and_reports_progress(tmp_path):
    from exodeepfinder.io.h5 import write_h5
    from exodeepfinder.io.movie import open_movie

    sim = simulate_movie((30, 64, 80), n_events=0, n_spots=10, seed=2)
    write_h5(tmp_path / "movie.h5", sim.movie)
    calls = []
    lazy = detect_spots(open_movie(tmp_path / "movie.h5"), block_size=8, scale=1.5,
                        progress=lambda done, total: calls.append((done, total)))
    assert np.array_equal(lazy, detect_spots(sim.movie, block_size=30, scale=1.5))
    assert calls == [(8, 30), (16, 30), (24, 30), (30, 30)]
    with pytest.raises(Cancelled):
        detect_spots(sim.movie, block_size=8, progress=lambda done, total: False)


def test_reference_merge_keeps_events_as_class_2_and_erases_detector_blobs_under_them():
    shape = (30, 64, 64)
    detector = np.zeros(shape, np.uint8)
    detector[10:13, 20:23, 20:23] = 1          # the event itself, seen by the detector
    detector[0:30, 50:53, 10:13] = 1           # a docked vesicle far away, 30 frames
    detector[5, 5:8, 40:43] = 1                # a one-frame spot
    detector[5, 5:8, 50:53] = 1                # another one in the same frame
    events = make_events([10], [21], [21])
    expert = events_to_labels(events, shape, label=1)
    merged, merged_events = merge_detector_expert(detector, events, expert, event_tails="reference")
    assert merged.dtype == np.int8 and set(np.unique(merged)) == {0, 1, 2}
    assert np.array_equal(merged == 2, expert == 1)
    # the event's own detector blob is gone except where the expert mask covers it (as 2)
    assert not (merged[10:13, 20:23, 20:23] == 1).any()
    assert (merged[:, 50:53, 10:13] == 1).all() and (merged[5, 5:8, 40:43] == 1).all()
    spots = merged_events[merged_events.class_label == 1]
    assert len(spots) == 30 + 2  # one object per frame per 2D blob
    assert np.allclose(spots[spots.x < 20][["y", "x"]].to_numpy(), [51, 11])
    event_rows = merged_events[merged_events.class_label == 2]
    assert event_rows[["t", "y", "x"]].to_numpy().tolist() == [[10, 21, 21]]


def test_reference_merge_exclusion_radius_is_a_distance_to_the_blob_centroid():
    shape = (20, 40, 40)
    detector = np.zeros(shape, np.uint8)
    detector[8:11, 10:13, 10:13] = 1   # centroid (9, 11, 11)
    detector[8:11, 10:13, 27:30] = 1   # centroid (9, 11, 28)
    events = make_events([9, 9], [11, 11], [15, 34])  # 4 px from the first blob, 6 px from the second
    expert = np.zeros(shape, np.int8)
    merged, _ = merge_detector_expert(detector, events, expert, exclusion_radius=5, event_tails="reference")
    assert not merged[8:11, 10:13, 10:13].any()
    assert (merged[8:11, 10:13, 27:30] == 1).all()


def test_merge_samples_at_most_max_spots_reproducibly():
    detector = np.zeros((50, 64, 64), np.uint8)
    detector[::2, 4:60:6, 4:60:6] = 1  # 100 one-pixel spots in every other frame: 2500 one-frame blobs
    events = make_events([], [], [])
    expert = np.zeros_like(detector, np.int8)
    _, all_events = merge_detector_expert(detector, events, expert, max_spots=None)
    assert len(all_events) == 25 * 100
    _, a = merge_detector_expert(detector, events, expert, max_spots=300, seed=1)
    _, b = merge_detector_expert(detector, events, expert, max_spots=300, seed=1)
    _, c = merge_detector_expert(detector, events, expert, max_spots=300, seed=2)
    assert len(a) == 300 and a.equals(b) and not a.equals(c)
    assert set(map(tuple, a[["t", "y", "x"]].to_numpy())) <= set(map(tuple, all_events[["t", "y", "x"]].to_numpy()))


def test_merge_on_simulated_movie_separates_spots_from_events():
    sim = simulate_movie((80, 96, 96), n_events=6, n_spots=20, seed=4)
    detector = detect_spots(sim.movie)
    expert = events_to_labels(sim.events, sim.movie.shape, label=1)
    merged, merged_events = merge_detector_expert(detector, sim.events, expert)
    assert (merged_events.class_label == 2).sum() == 6
    assert np.array_equal(merged == 2, expert == 1)
    # no class-1 object remains at an expert event's first frame within 3 px
    spots = merged_events[merged_events.class_label == 1]
    for event in sim.events.itertuples():
        same_frame = spots[spots.t == event.t]
        assert (np.hypot(same_frame.y - event.y, same_frame.x - event.x) > 3).all()
    assert (merged == 1).sum() > 0.5 * (detector != 0).sum()


def _movie_folder(root, name, files=("movie.h5", "merged_segmentation.h5", "merged_annotation.xml")):
    folder = root / name
    folder.mkdir(parents=True)
    for file in files:
        (folder / file).write_text(f"{name}/{file}")
    return folder


def test_split_movies_is_reproducible_and_keeps_both_sets_non_empty():
    names = [f"m{i}" for i in range(10)]
    train, valid = split_movies(names, 70, seed=1)
    assert len(train) == 7 and len(valid) == 3 and sorted(train + valid) == names
    assert split_movies(names, 70, seed=1) == (train, valid)
    assert split_movies(["a", "b"], 70, seed=0)[0] and split_movies(["a", "b"], 70, seed=0)[1]
    with pytest.raises(InputError, match="split:"):
        split_movies(names, 150)


def test_structure_training_dataset_layout(tmp_path):
    for name in ("cell1", "cell2", "cell3"):
        _movie_folder(tmp_path / "data", name)
    _movie_folder(tmp_path / "data", "incomplete", files=("movie.h5",))
    layout = structure_training_dataset(tmp_path / "data", tmp_path / "dataset", split=70, seed=0)
    assert len(layout.train) == 2 and len(layout.valid) == 1
    assert layout.skipped == {"incomplete": "missing merged_segmentation.h5, merged_annotation.xml"}
    for subset, names in (("train", layout.train), ("valid", layout.valid)):
        files = sorted(p.name for p in (tmp_path / "dataset" / subset).iterdir())
        assert files == sorted(f"{n}{s}" for n in names for s in (".h5", "_target.h5", "_objl.xml"))
        for name in names:
            assert (tmp_path / "dataset" / subset / f"{name}_target.h5").read_text() == f"{name}/merged_segmentation.h5"
            assert (tmp_path / "dataset" / subset / f"{name}_objl.xml").read_text() == f"{name}/merged_annotation.xml"
    # originals untouched
    assert (tmp_path / "data" / "cell1" / "movie.h5").read_text() == "cell1/movie.h5"


def test_structure_training_dataset_never_touches_existing_files(tmp_path):
    _movie_folder(tmp_path / "data", "cell1")
    _movie_folder(tmp_path / "data", "cell2")
    output = tmp_path / "dataset"
    output.mkdir()
    (output / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"):
        structure_training_dataset(tmp_path / "data", output)
    assert [p.name for p in output.iterdir()] == ["notes.txt"]
    layout = structure_training_dataset(tmp_path / "data", output, overwrite=True, copy=True, seed=0)
    assert (output / "notes.txt").read_text() == "mine"
    assert not layout.linked and not (output / "train" / f"{layout.train[0]}.h5").is_symlink()


def test_structure_training_dataset_without_split(tmp_path):
    _movie_folder(tmp_path / "data", "cell1")
    layout = structure_training_dataset(tmp_path / "data", tmp_path / "out", split=0)
    assert layout.train == ["cell1"] and layout.valid == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["cell1.h5", "cell1_objl.xml", "cell1_target.h5"]


FAKE_DETECTOR = """
import sys
from pathlib import Path
import numpy as np
import tifffile
source, target = Path(sys.argv[1]), Path(sys.argv[2])
mode = sys.argv[3] if len(sys.argv) > 3 else "ok"
if mode == "fail":
    print("loading frames", file=sys.stderr)
    print("detector crashed: out of memory", file=sys.stderr)
    sys.exit(3)
if mode == "nothing":
    sys.exit(0)
for frame in sorted(source.iterdir()):
    image = tifffile.imread(frame)
    tifffile.imwrite(target / ("mask_" + frame.name.split("_")[-1]), (image > 1000).astype(np.uint8) * 255)
"""


@pytest.fixture
def fake_detector(tmp_path):
    script = tmp_path / "fake_detector.py"
    script.write_text(FAKE_DETECTOR)
    return script


def test_external_detector_command(fake_detector):
    movie = np.full((5, 16, 20), 100, np.uint16)
    movie[2, 3:6, 4:8] = 5000
    command = f'"{sys.executable}" {{detector}} {{input}} {{output}}'
    mask = run_detector_command(movie, command, detector_path=fake_detector)
    assert mask.dtype == np.uint8 and mask.sum() == 12 and mask[2, 3:6, 4:8].all()


def test_external_detector_errors_are_one_line(fake_detector):
    movie = np.zeros((3, 8, 8), np.uint16)
    with pytest.raises(InputError) as err:
        run_detector_command(movie, f'"{sys.executable}" {{detector}} {{input}} {{output}} fail', detector_path=fake_detector)
    message = str(err.value)
    assert "exit status 3" in message and "out of memory" in message and "\n" not in message
    with pytest.raises(InputError, match="wrote nothing"):
        run_detector_command(movie, f'"{sys.executable}" {{detector}} {{input}} {{output}} nothing',
                             detector_path=fake_detector)
    with pytest.raises(InputError, match="cannot run"):
        run_detector_command(movie, "/no/such/detector {input} {output}")
    with pytest.raises(InputError, match="placeholder"):
        run_detector_command(movie, "detector {input} {outptu}")


def test_parse_atlas_args():
    assert parse_atlas_args("-rad 21 -pval 0.001 -arealim 3") == dict(radius=21.0, pval=0.001, area_limit=3)
    with pytest.raises(InputError, match="atlas_args:"):
        parse_atlas_args("-rad 21 -sigma 2")


def test_structure_training_dataset_refuses_a_movie_in_both_sets(tmp_path):
    for name in ("cell1", "cell2", "cell3", "cell4"):
        _movie_folder(tmp_path / "data", name)
    first = structure_training_dataset(tmp_path / "data", tmp_path / "out", seed=0)
    again = structure_training_dataset(tmp_path / "data", tmp_path / "out", seed=0, overwrite=True)
    assert (again.train, again.valid) == (first.train, first.valid)
    seed = next(s for s in range(1, 50) if split_movies(first.train + first.valid, 70, s)[1] != first.valid)
    listing = sorted(p.name for p in (tmp_path / "out").rglob("*"))
    with pytest.raises(InputError, match="earlier layout"):
        structure_training_dataset(tmp_path / "data", tmp_path / "out", seed=seed, overwrite=True)
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == listing

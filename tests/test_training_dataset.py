"""Reading a training dataset folder, and the simulated datasets the training tests use.

``make_training_dataset`` builds a dataset the way a user does: simulated movies, expert event
masks (``events_to_labels``), bright spots from the built-in detector, the merge, then
``structure_training_dataset``. The other training test files import it.
"""

from pathlib import Path

import numpy as np
import pytest

from exodeepfinder.errors import InputError
from exodeepfinder.events.targets import events_to_labels
from exodeepfinder.io.events import make_events, read_events, write_events
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.simulation.simulate import simulate_movie
from exodeepfinder.training.dataset import check_patch_sizes, load_movies, scan_dataset
from exodeepfinder.training_data import detect_spots, merge_detector_expert, structure_training_dataset


def make_movie_folder(folder: Path, shape, *, n_events, n_spots, seed):
    """A movie folder as edf_merge_detector_expert leaves it; returns the simulation."""
    sim = simulate_movie(shape, n_events=n_events, n_spots=n_spots, seed=seed)
    expert = events_to_labels(sim.events, sim.movie.shape, label=1)
    merged, objects = merge_detector_expert(detect_spots(sim.movie), sim.events, expert)
    folder.mkdir(parents=True, exist_ok=True)
    write_h5(folder / "movie.h5", sim.movie)
    write_h5(folder / "merged_segmentation.h5", merged)
    write_events(objects, folder / "merged_annotation.xml")
    return sim


def make_training_dataset(root: Path, *, n_movies=3, shape=(48, 48, 48), n_events=12, n_spots=10, seed=0,
                          split=67) -> Path:
    """Simulate ``n_movies`` movies and lay them out as a training dataset; return its folder."""
    for i in range(n_movies):
        make_movie_folder(root / "movies" / f"cell{i}", shape, n_events=n_events, n_spots=n_spots, seed=seed + i)
    structure_training_dataset(root / "movies", root / "dataset", split=split, seed=seed)
    return root / "dataset"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_training_dataset(tmp_path_factory.mktemp("training"), n_movies=3, shape=(24, 32, 40))


def test_scan_finds_train_and_valid_movies(dataset):
    train, valid = scan_dataset(dataset)
    assert len(train) == 2 and len(valid) == 1
    for movie in train + valid:
        assert movie.shape == (24, 32, 40)
        assert movie.n_objects[2] == 12 and movie.n_objects[1] > 0
    check_patch_sizes(train + valid, [8, 24])
    with pytest.raises(InputError, match=r"patch size 28 does not fit in .*cell\d\.h5 \(24 frames of 32 x 40"):
        check_patch_sizes(train + valid, [8, 28])


def test_loaded_movies_are_normalised_float16(dataset):
    from exodeepfinder.inference import normalize_frames
    from exodeepfinder.io.h5 import read_h5

    train, _ = scan_dataset(dataset)
    movies = load_movies(train)
    for files, movie in zip(train, movies):
        assert movie.frames.dtype == np.float16 and movie.labels.dtype == np.int8
        expected = normalize_frames(read_h5(files.movie))
        np.testing.assert_allclose(movie.frames, expected, rtol=1e-3, atol=1e-3)
        np.testing.assert_array_equal(movie.labels, read_h5(files.target))
        assert set(np.unique(movie.labels)) == {0, 1, 2}


def test_movies_kept_on_disk_are_the_same_and_deleted(dataset, tmp_path):
    train, _ = scan_dataset(dataset)
    in_memory = load_movies(train[:1])[0]
    on_disk = load_movies(train[:1], cache_folder=tmp_path)[0]
    assert isinstance(on_disk.frames, np.memmap) and len(list(tmp_path.iterdir())) == 2
    np.testing.assert_array_equal(on_disk.frames, in_memory.frames)
    np.testing.assert_array_equal(on_disk.labels, in_memory.labels)
    on_disk.close()
    assert not list(tmp_path.iterdir())


def _copy_dataset(dataset, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)  # symbolic links become files: the original stays intact
    return copy


@pytest.mark.parametrize("problem, message", [
    ("no_train", r"no train/ folder"),
    ("no_valid", r"no valid/ folder"),
    ("no_target", r"its target segmentation cell\d_target\.h5 is missing"),
    ("no_objects", r"its object list cell\d_objl\.xml is missing"),
    ("orphan_target", r"target segmentation without its movie"),
    ("shape", r"shape \(24, 32, 32\) differs from the movie's \(24, 32, 40\)"),
    ("empty_objects", r"no object to train on"),
    ("bad_class", r"class_label 3 is not 1 \(bright spot\) or 2 \(event\)"),
    ("no_events", r"no event \(class 2\)"),
])
def test_dataset_problems_are_clear_errors(dataset, tmp_path, problem, message):
    copy = _copy_dataset(dataset, tmp_path)
    train = copy / "train"
    first = sorted(train.glob("*_target.h5"))[0].name[:-len("_target.h5")]
    if problem == "no_train":
        (copy / "train").rename(copy / "training")
    elif problem == "no_valid":
        import shutil

        shutil.rmtree(copy / "valid")
    elif problem == "no_target":
        (train / f"{first}_target.h5").unlink()
    elif problem == "no_objects":
        (train / f"{first}_objl.xml").unlink()
    elif problem == "orphan_target":
        (train / f"{first}.h5").unlink()
        (train / f"{first}_objl.xml").unlink()
    elif problem == "shape":
        write_h5(train / f"{first}_target.h5", np.zeros((24, 32, 32), np.int8), overwrite=True)
    elif problem == "empty_objects":
        write_events(make_events(), train / f"{first}_objl.xml", overwrite=True)
    elif problem == "bad_class":
        write_events(make_events([1], [2], [3], class_label=3), train / f"{first}_objl.xml", overwrite=True)
    elif problem == "no_events":
        for path in train.glob("*_objl.xml"):
            table = read_events(path)
            write_events(table[table.class_label == 1], path, overwrite=True)
    with pytest.raises(InputError, match=message):
        scan_dataset(copy)


def test_labels_out_of_range_are_an_error(dataset, tmp_path):
    copy = _copy_dataset(dataset, tmp_path)
    target = sorted((copy / "train").glob("*_target.h5"))[0]
    labels = np.zeros((24, 32, 40), np.int8)
    labels[3, 4, 5] = 7
    write_h5(target, labels, overwrite=True)
    train, _ = scan_dataset(copy)
    with pytest.raises(InputError, match=r"_target\.h5: target labels must be 0, 1 or 2, found 0 to 7"):
        load_movies(train)

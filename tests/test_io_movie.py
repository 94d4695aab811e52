import h5py
import numpy as np
import pytest
import tifffile

from exodeepfinder.errors import InputError
from exodeepfinder.io import open_movie, read_h5, read_movie, write_h5
from exodeepfinder.io.movie import list_tiff_frames
from exodeepfinder.simulation import simulate_movie


@pytest.fixture(scope="module")
def movie():
    return simulate_movie((12, 20, 24), n_events=2, n_spots=3, seed=3).movie


def write_frames(folder, movie, pattern="frame_{:03d}.tif", start=1):
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(movie, start=start):
        tifffile.imwrite(folder / pattern.format(index), frame)
    return folder


def test_h5_round_trip_in_dataset(tmp_path, movie):
    path = write_h5(tmp_path / "movie.h5", movie)
    with h5py.File(path, "r") as handle:
        assert list(handle.keys()) == ["dataset"]
        np.testing.assert_array_equal(handle["dataset"][()], movie)
    np.testing.assert_array_equal(read_movie(path), movie)
    assert not [p for p in tmp_path.iterdir() if p.name != "movie.h5"]  # no temporary left


def test_tiff_folder_orders_frames_by_last_number(tmp_path, movie):
    folder = tmp_path / "frames"
    # 'cell2_t1.tif' ... 'cell2_t12.tif': the last number, not the first, is the frame; no zero padding.
    write_frames(folder, movie, "cell2_t{}.TIF")
    files = list_tiff_frames(folder)
    assert [f.name for f in files[:3]] == ["cell2_t1.TIF", "cell2_t2.TIF", "cell2_t3.TIF"]
    np.testing.assert_array_equal(read_movie(folder), movie)
    lazy = open_movie(folder)
    assert lazy.shape == movie.shape
    np.testing.assert_array_equal(lazy[3:5], movie[3:5])
    np.testing.assert_array_equal(lazy[-1], movie[-1])


def test_tiff_stack(tmp_path, movie):
    tifffile.imwrite(tmp_path / "stack.tif", movie)
    np.testing.assert_array_equal(read_movie(tmp_path / "stack.tif"), movie)
    tifffile.imwrite(tmp_path / "stack_zlib.tiff", movie, compression="zlib")
    np.testing.assert_array_equal(read_movie(tmp_path / "stack_zlib.tiff"), movie)


@pytest.mark.parametrize("case, message", [
    ("missing", "missing frame number(s) 3"),
    ("two_patterns", "two naming patterns"),
    ("sizes", "frame of shape"),
    ("empty", "no TIFF frames"),
    ("unreadable", "cannot read TIFF"),
    ("no_number", "no frame number"),
    ("start", "must start at 1"),
])
def test_tiff_folder_errors_name_the_file(tmp_path, movie, case, message):
    folder = write_frames(tmp_path / "frames", movie[:5])
    if case == "missing":
        (folder / "frame_003.tif").unlink()
    elif case == "two_patterns":
        tifffile.imwrite(folder / "other_006.tif", movie[5])
    elif case == "sizes":
        tifffile.imwrite(folder / "frame_004.tif", movie[4, :10])
    elif case == "empty":
        for path in folder.iterdir():
            path.unlink()
    elif case == "unreadable":
        (folder / "frame_002.tif").write_bytes(b"not a tiff")
    elif case == "no_number":
        tifffile.imwrite(folder / "frame_last.tif", movie[0])
    elif case == "start":
        (folder / "frame_001.tif").unlink()
    with pytest.raises(InputError) as err:
        read_movie(folder)
    text = str(err.value)
    assert message in text
    assert "\n" not in text
    assert str(folder) in text


def test_h5_errors(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_h5(tmp_path / "nope.h5")
    (tmp_path / "bad.h5").write_text("hello")
    with pytest.raises(InputError, match="not a readable HDF5"):
        read_h5(tmp_path / "bad.h5")
    with h5py.File(tmp_path / "other.h5", "w") as handle:
        handle["volume"] = np.zeros(3)
    with pytest.raises(InputError, match="no dataset named 'dataset'.*volume"):
        read_h5(tmp_path / "other.h5")
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(InputError, match="unknown movie format"):
        open_movie(tmp_path / "notes.txt")


def test_write_h5_failure_leaves_nothing(tmp_path):
    class Broken:
        shape, dtype = (100, 4, 4), np.uint16

        def __getitem__(self, key):
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_h5(tmp_path / "movie.h5", Broken())
    assert list(tmp_path.iterdir()) == []


def test_lazy_reads_are_checked_and_name_the_frame(tmp_path, movie):
    bad = movie.astype(np.float32)
    bad[7, 2, 3] = np.nan
    path = write_h5(tmp_path / "nan.h5", bad)
    with open_movie(path) as lazy:
        np.testing.assert_array_equal(lazy[:7], bad[:7])  # frames before the bad one read fine
        with pytest.raises(InputError, match=r"nan\.h5: frame t=7 has 1 NaN pixel\(s\), first at y=2, x=3"):
            lazy[4:10]
        with pytest.raises(InputError, match="frame t=7"):
            np.asarray(lazy)


def test_corrupt_chunk_names_the_file(tmp_path, movie):
    path = write_h5(tmp_path / "movie.h5", movie)
    with h5py.File(path, "r") as handle:
        chunk = handle["dataset"].id.get_chunk_info(0)
    with open(path, "r+b") as handle:
        handle.seek(chunk.byte_offset + chunk.size // 2)
        handle.write(b"\xff" * 32)
    with open_movie(path) as lazy, pytest.raises(InputError, match=r"movie\.h5: cannot read frames t=0 to 11"):
        lazy[:]


@pytest.mark.parametrize("array, message", [
    (np.zeros((4, 5, 6), bool), "booleans"),
    (np.zeros((4, 5, 6), np.complex64), "complex64 are not intensities"),
    (np.zeros((5, 6)), "a single 2D image"),
    (np.zeros((4, 5, 6, 2)), "expected a 3D movie"),
    (np.zeros((0, 5, 6)), "empty movie"),
])
def test_movies_that_are_not_movies(tmp_path, array, message):
    with h5py.File(tmp_path / "m.h5", "w") as handle:
        handle["dataset"] = array
    with pytest.raises(InputError, match=message):
        open_movie(tmp_path / "m.h5")


def test_in_memory_movies_are_checked_whole():
    from exodeepfinder.io.movie import as_movie

    movie = np.ones((3, 4, 4), np.float32)
    assert as_movie(movie) is movie
    movie[2, 1, 1] = np.inf
    with pytest.raises(InputError, match=r"movie: frame t=2 has 1 infinite pixel"):
        as_movie(movie)
    with pytest.raises(InputError, match="booleans"):
        as_movie(movie > 0)


def test_damaged_tiff_that_reads_as_nothing(tmp_path, movie):
    folder = write_frames(tmp_path / "frames", movie[:3])
    (folder / "frame_002.tif").write_bytes(b"II*\x00 not really a TIFF")  # tifffile logs and returns no pixels
    with pytest.raises(InputError, match=r"frame_002\.tif: cannot read TIFF"):
        read_movie(folder)

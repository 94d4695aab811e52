"""Bad input and faults through the real console scripts: one line, exit status 2, nothing written, inputs intact.

Every case runs an installed entry point (``edf_<command>`` beside the Python running the tests,
else ``python -m exodeepfinder <command>``) in a subprocess whose stderr is a pipe, not a
terminal (progress bars stay off), and checks:

- the exit status (2 for a failure, 130 for Ctrl-C, 143 for SIGTERM);
- exactly one line on stderr, ``error: <file>: <problem>``, naming what the case expects;
- no traceback;
- no output and no partial file (``*.exodeepfinder-partial``) left: the folder of the case holds
  exactly the files it held before, byte for byte (SHA-256 of every file).

Movies are tiny (8 x 24 x 24); only a few cases load the network. See docs/errors.md for the table
of these inputs and what the user sees.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile

from exodeepfinder.io.atomic import PARTIAL_SUFFIX
from exodeepfinder.io.events import write_events
from exodeepfinder.io.h5 import read_h5, write_h5
from exodeepfinder.simulation import simulate_movie

BIN = Path(sys.executable).parent
SHAPE = (8, 24, 24)
# the network's smallest patches, the bundled weights: what the cases that load the network use
NETWORK = ["-mw", "bundled", "-ps", "56", "--device", "cpu"]


def command(name: str) -> list[str]:
    """The console script ``name`` (e.g. ``edf_segment``), or the same command through ``python -m``."""
    script = BIN / name
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "exodeepfinder", name.removeprefix("edf_")]


def environment(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXODEEPFINDER_")}
    env.update(extra)
    return env


def run(folder: Path, name: str, *args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(command(name) + [str(a) for a in args], cwd=folder, capture_output=True, text=True,
                          timeout=timeout, env=env or environment())


def snapshot(folder: Path) -> dict:
    """Every file and folder under ``folder``: SHA-256 of the files, None for the folders."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def assert_one_line_error(result, *expected, status=2):
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.splitlines()
    assert result.returncode == status, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") or status != 2, lines[0]
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def assert_refused(folder: Path, name: str, args, expected, *, status=2, env=None):
    """Run the command in ``folder``; it must fail with one line naming ``expected`` and leave ``folder`` as it was."""
    before = snapshot(folder)
    result = run(folder, name, *args, env=env)
    line = assert_one_line_error(result, *expected, status=status)
    assert snapshot(folder) == before, "files changed, appeared or were left behind"
    return line


@pytest.fixture(scope="module")
def simulation():
    return simulate_movie(SHAPE, n_events=1, n_spots=2, seed=4)


@pytest.fixture
def case(tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    return folder


def write_frames(folder: Path, movie, pattern="f_{:03d}.tif"):
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(movie, start=1):
        tifffile.imwrite(folder / pattern.format(index), frame)
    return folder


# --- folders of TIFF frames ---------------------------------------------------------------------------------

def _missing(frames, movie):
    (frames / "f_003.tif").unlink()


def _repeated(frames, movie):
    tifffile.imwrite(frames / "f_03.tif", movie[2])


def _mixed_sizes(frames, movie):
    tifffile.imwrite(frames / "f_004.tif", movie[3, :, :8])


def _unreadable(frames, movie):
    (frames / "f_002.tif").write_bytes(b"II*\x00 this is not really a TIFF")


def _two_patterns(frames, movie):
    tifffile.imwrite(frames / "other_009.tif", movie[0])


def _empty(frames, movie):
    for path in frames.iterdir():
        path.unlink()


def _mixed_types(frames, movie):
    tifffile.imwrite(frames / "f_005.tif", movie[4].astype(np.float32) + 0.5)


def _colour(frames, movie):
    _empty(frames, movie)
    write_frames(frames, np.stack([movie] * 3, axis=-1))


def _booleans(frames, movie):
    _empty(frames, movie)
    write_frames(frames, movie > movie.mean())


@pytest.mark.parametrize("damage, expected", [
    (_missing, ["frames: missing frame number(s) 3"]),
    (_repeated, ["frame number 3 repeated"]),
    (_mixed_sizes, ["f_004.tif: frame of shape (24, 8)"]),
    (_unreadable, ["f_002.tif: cannot read TIFF"]),
    (_two_patterns, ["two naming patterns"]),
    (_empty, ["frames: no TIFF frames"]),
    (_mixed_types, ["f_005.tif: pixels of type float32"]),
    (_colour, ["f_001.tif: a frame must be a 2D image"]),
    (_booleans, ["f_001.tif: the pixels are booleans"]),
], ids=lambda value: value.__name__.strip("_") if callable(value) else None)
def test_tiff_folder(case, simulation, damage, expected):
    frames = write_frames(case / "frames", simulation.movie)
    damage(frames, simulation.movie)
    assert_refused(case, "edf_convert_tiff_to_h5", ["-t", "frames"], expected)


# --- HDF5 movies ---------------------------------------------------------------------------------------------

def _h5(path, array, name="dataset"):
    with h5py.File(path, "w") as handle:
        handle.create_dataset(name, data=array)


def make_movie_file(kind, path, movie):
    if kind == "truncated":
        write_h5(path, movie)
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    elif kind == "not_hdf5":
        path.write_text("frame,value\n1,2\n")
    elif kind == "missing_dataset":
        _h5(path, movie, name="volume")
    elif kind == "2d":
        _h5(path, movie[0])
    elif kind == "4d":
        _h5(path, movie[..., None])
    elif kind == "bool":
        _h5(path, movie > movie.mean())
    elif kind == "complex":
        _h5(path, movie.astype(np.complex64))
    elif kind == "text":
        _h5(path, np.full(SHAPE, b"pixel"))
    elif kind == "records":
        _h5(path, np.zeros(SHAPE, dtype=[("a", "<u2"), ("b", "<f4")]))
    elif kind == "no_frames":
        _h5(path, movie[:0])
    elif kind == "no_width":
        _h5(path, movie[:, :, :0])
    elif kind == "folder":
        path.mkdir()
        (path / "readme.txt").write_text("not frames")


@pytest.mark.parametrize("kind, expected", [
    ("truncated", "not a readable HDF5 file (truncated"),
    ("not_hdf5", "not a readable HDF5 file (not an HDF5 file)"),
    ("missing_dataset", "no dataset named 'dataset' (found: volume)"),
    ("2d", "a single 2D image of shape (24, 24)"),
    ("4d", "expected a 3D movie [t, y, x], found shape (8, 24, 24, 1)"),
    ("bool", "the pixels are booleans"),
    ("complex", "pixels of type complex64 are not intensities"),
    ("text", "pixels of type |S5 are not intensities"),
    ("records", "are not intensities"),
    ("no_frames", "empty movie of shape (0, 24, 24)"),
    ("no_width", "empty movie of shape (8, 24, 0)"),
    ("folder", "no TIFF frames"),
])
def test_hdf5_movie(case, simulation, kind, expected):
    make_movie_file(kind, case / "movie.h5", simulation.movie)
    # refused before the network is loaded: fast
    assert_refused(case, "edf_segment", ["-m", "movie.h5"] + NETWORK, ["movie.h5", expected])


def test_corrupt_compressed_chunk(case, simulation):
    write_h5(case / "movie.h5", simulation.movie)  # one gzip chunk of 8 frames
    with h5py.File(case / "movie.h5", "r") as handle:
        chunk = handle["dataset"].id.get_chunk_info(0)
    with open(case / "movie.h5", "r+b") as handle:  # the header stays intact: the file opens
        handle.seek(chunk.byte_offset + chunk.size // 3)
        handle.write(b"\x00\xff" * 16)
    assert_refused(case, "edf_detect_spots", ["-m", "movie.h5"],
                   ["movie.h5: cannot read frame", "the file is damaged or incomplete"])


def test_nan_pixel_names_the_frame(case, simulation):
    movie = simulation.movie.astype(np.float32)
    movie[3, 5, 7] = np.nan
    write_h5(case / "movie.h5", movie)
    assert_refused(case, "edf_segment", ["-m", "movie.h5"] + NETWORK,
                   ["movie.h5: frame t=3 has 1 NaN pixel(s), first at y=5, x=7"])


def test_infinite_pixel_names_the_frame(case, simulation):
    movie = simulation.movie.astype(np.float64)
    movie[6, 0, 1] = -np.inf
    write_h5(case / "movie.h5", movie)
    assert_refused(case, "edf_detect_spots", ["-m", "movie.h5"],
                   ["movie.h5: frame t=6 has 1 infinite pixel(s), first at y=0, x=1"])


@pytest.mark.parametrize("dtype", ["uint8", "int8", "uint16", "int16", "uint32", "int32", "int64", "uint64",
                                   "float16", "float32", "float64"])
def test_every_numeric_pixel_type_is_a_movie(tmp_path, simulation, dtype):
    """The counterpart of the refused types: integers and floats of any size are analysed (in-process: fast)."""
    from exodeepfinder.cli import detect_spots

    movie = np.clip(simulation.movie / 20, 0, 120).astype(dtype)  # fits every type, keeps the spots
    write_h5(tmp_path / "movie.h5", movie)
    assert detect_spots.main(["-m", str(tmp_path / "movie.h5")]) == 0
    assert read_h5(tmp_path / "detector_segmentation.h5").shape == SHAPE


def test_tiny_movie_is_segmented(case):
    """One frame of 3 x 3 pixels, the smallest plane the network's tiling takes: labels, not an error."""
    write_h5(case / "movie.h5", np.arange(9, dtype=np.uint16).reshape(1, 3, 3))
    result = run(case, "edf_segment", "-m", "movie.h5", *NETWORK)
    assert result.returncode == 0 and result.stderr == "", result.stderr  # no progress bar without a terminal
    assert read_h5(case / "movie_segmentation.h5").shape == (1, 3, 3)


# --- annotations (generate_segmentation: the training target) ------------------------------------------------

ANNOTATIONS = {
    "wrong_columns": ("events.csv", "a,b,c\n1,2,3\n", ["events.csv: missing column(s) x, y, z (found: a, b, c"]),
    "class_label_3": ("events.csv", "class_label,x,y,z\n3,4,4,2\n", ["events.csv: event 1 has class_label 3"]),
    "class_label_text": ("events.csv", "class_label,x,y,z\n1,4,4,2\nspot,4,4,3\n",
                         ["events.csv: event 2 has an invalid class_label ('spot')"]),
    "class_label_fraction": ("events.xml", '<objlist><object class_label="1.5" x="4" y="4" z="2"/></objlist>',
                             ["events.xml: event 1 has an invalid class_label"]),
    "outside_the_movie": ("events.csv", "class_label,x,y,z\n1,4,4,2\n1,4,4,30\n",
                          ["events.csv: event 2 at z=30, y=4, x=4 lies outside the movie"]),
    "negative_coordinate": ("events.xml", '<objlist><object class_label="1" x="-3" y="4" z="2"/></objlist>',
                            ["events.xml: event 1 at z=2, y=4, x=-3 lies outside the movie"]),
    "text_coordinate": ("events.csv", "class_label,x,y,z\n1,ten,4,2\n", ["events.csv: event 1 has a non-numeric x"]),
    "missing_coordinate": ("events.csv", "class_label,x,y,z\n1,4,,2\n", ["events.csv: event 1 has no y"]),
    "infinite_coordinate": ("events.csv", "class_label,x,y,z\n1,4,4,inf\n",
                            ["events.csv: event 1 has a non-finite z"]),
    "empty_objlist": ("events.xml", "<objlist/>", ["events.xml: no events in this annotation", "--allow_empty"]),
    "header_only_csv": ("events.csv", "tomo_idx,class_label,x,y,z\n", ["events.csv: no events in this annotation"]),
    "empty_file": ("events.csv", "", ["events.csv: empty file"]),
    "not_an_objlist": ("events.xml", "<points><point x='1'/></points>", ["events.xml: not an object list"]),
    "broken_xml": ("events.xml", "<objlist><object x='1'", ["events.xml: not valid XML"]),
    "latin1_bytes": ("events.csv", b"class_label,x,y,z\n1,4,4,2\n1,\xe9,4,2\n", ["events.csv: not a readable CSV"]),
    "unknown_format": ("events.txt", "1 4 4 2\n", ["events.txt: unknown annotation format '.txt'"]),
}


@pytest.mark.parametrize("name", list(ANNOTATIONS))
def test_annotation(case, simulation, name):
    filename, content, expected = ANNOTATIONS[name]
    write_h5(case / "movie.h5", simulation.movie)
    path = case / filename
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    assert_refused(case, "edf_generate_segmentation", ["-m", "movie.h5", "-a", filename], expected)


@pytest.mark.parametrize("name, content", [
    ("bom_commas", b"\xef\xbb\xbftomo_idx,class_label,x,y,z\n0,1,4.0,5,2\n0,1,10,11,4\n"),
    ("semicolons_decimal_commas", "tomo_idx;class_label;x;y;z\n0;1;4,0;5;2\n0;1;10;11;4\n".encode()),
    ("tabs", b"tomo_idx\tclass_label\tx\ty\tz\n0\t1\t4\t5\t2\n0\t1\t10\t11\t4\n"),
    ("capitals_and_spaces", b"Tomo_idx, Class_label, X, Y, Z\n0,1,4,5,2\n0,1,10,11,4\n"),
])
def test_spreadsheet_csv_dialects_give_the_same_target(case, simulation, name, content):
    write_h5(case / "movie.h5", simulation.movie)
    (case / "events.csv").write_bytes(content)
    result = run(case, "edf_generate_segmentation", "-m", "movie.h5", "-a", "events.csv")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    labels = read_h5(case / "expert_segmentation.h5")
    assert labels[2, 5, 4] == 1 and labels[4, 11, 10] == 1 and int(labels.sum()) == 2 * (49 + 13 + 1)


def test_empty_annotation_is_accepted_when_asked(case, simulation):
    write_h5(case / "movie.h5", simulation.movie)
    (case / "events.xml").write_text("<objlist/>")
    result = run(case, "edf_generate_segmentation", "-m", "movie.h5", "-a", "events.xml", "--allow_empty")
    assert result.returncode == 0, result.stderr
    assert not read_h5(case / "expert_segmentation.h5").any()


# --- a movie where a segmentation is expected ----------------------------------------------------------------

def test_movie_given_as_segmentation(case, simulation):
    write_h5(case / "movie.h5", simulation.movie)
    assert_refused(case, "edf_generate_annotation", ["-s", "movie.h5"],
                   ["movie.h5: not a segmentation: frame t=0 holds the value", "is it a movie?"])


def test_float_movie_given_as_detector_segmentation(case, simulation):
    write_h5(case / "movie.h5", simulation.movie.astype(np.float32) / simulation.movie.max())  # values in 0..1
    write_h5(case / "expert_segmentation.h5", np.zeros(SHAPE, np.int8))
    write_events(simulation.events, case / "expert_annotation.xml")
    assert_refused(case, "edf_merge_detector_expert", ["-ds", "movie.h5"], ["movie.h5: not a segmentation"])


# --- weights -------------------------------------------------------------------------------------------------

def _keras_like(path, channels):
    """A Keras-layout file of 15 3D convolutions, but not the ExoDeepFinder U-Net's channel counts."""
    with h5py.File(path, "w") as handle:
        root = handle.create_group("model_weights")
        for index in range(1, 16):
            group = root.create_group(f"conv3d_{index}").create_group(f"conv3d_{index}")
            group["kernel:0"] = np.zeros((3, 3, 3, 1 if index == 1 else channels, channels), np.float32)
            group["bias:0"] = np.zeros(channels, np.float32)


@pytest.mark.parametrize("weights, expected", [
    ("text", "weights.h5: not a readable HDF5 weights file (not an HDF5 file)"),
    ("missing", "weights.h5: weights file not found"),
    ("wrong_architecture", "weights.h5: convolution 9 has kernel shape (3, 3, 3, 16, 16), expected (2, 2, 2, 16, 16)"),
])
def test_weights(case, simulation, weights, expected):
    write_h5(case / "movie.h5", simulation.movie)
    if weights == "text":
        (case / "weights.h5").write_text("<html>404 Not Found</html>")
    elif weights == "wrong_architecture":
        _keras_like(case / "weights.h5", 16)
    assert_refused(case, "edf_segment", ["-m", "movie.h5", "-mw", "weights.h5", "-ps", "56"], [expected])


@pytest.mark.parametrize("value, expected", [("150", "150: must be a multiple of 4"),
                                             ("52", "52: must be a multiple of 4, at least 56"),
                                             ("big", "'big' is not an integer")])
def test_patch_size(case, simulation, value, expected):
    write_h5(case / "movie.h5", simulation.movie)
    line = assert_refused(case, "edf_segment", ["-m", "movie.h5", "-ps", value], ["--patch_size: " + expected])
    assert "see edf_segment --help" in line or "--help" in line


# --- outputs ------------------------------------------------------------------------------------------------

def test_existing_output_is_kept(case, simulation):
    write_h5(case / "movie.h5", simulation.movie)
    (case / "movie_segmentation.h5").write_bytes(b"the user's file")
    assert_refused(case, "edf_segment", ["-m", "movie.h5"] + NETWORK,
                   ["movie_segmentation.h5: already exists (use --overwrite to replace it)"])


def test_existing_picture_is_kept(case, simulation):
    """``-v`` used to replace an existing orthoslice picture silently."""
    write_h5(case / "movie.h5", simulation.movie)
    (case / "movie_segmentation_labels_orthoslices.png").write_bytes(b"the user's picture")
    assert_refused(case, "edf_segment", ["-m", "movie.h5", "-v"] + NETWORK,
                   ["movie_segmentation_labels_orthoslices.png: already exists"])


def test_evaluate_checks_every_output_before_writing(case, simulation):
    """edf_evaluate used to write its table, then fail on the existing curve: now nothing is written."""
    write_events(simulation.events.assign(score=0.9), case / "annotation.csv")
    write_events(simulation.events, case / "expert_annotation.xml")
    (case / "annotation_evaluation_pr_curve.png").write_bytes(b"an older curve")
    assert_refused(case, "edf_evaluate", ["-a", "annotation.csv", "-r", "expert_annotation.xml"],
                   ["annotation_evaluation_pr_curve.png: already exists"])


def test_demo_keeps_an_existing_evaluation(case):
    (case / "demo").mkdir()
    (case / "demo" / "evaluation.csv").write_text("the user's evaluation\n")
    assert_refused(case, "edf_demo", ["-o", "demo", "--shape", "8", "24", "24"],
                   ["evaluation.csv: already exists (use --overwrite"])


def test_file_used_as_a_folder(case, simulation):
    write_h5(case / "movie.h5", simulation.movie)
    assert_refused(case, "edf_segment", ["-m", "movie.h5", "-s", "movie.h5/labels.h5"] + NETWORK,
                   ["movie.h5/labels.h5: movie.h5 is a file, not a folder"])


def test_output_that_is_a_folder(case, simulation):
    write_h5(case / "movie.h5", simulation.movie)
    write_events(simulation.events, case / "expert_annotation.xml")
    (case / "target.h5").mkdir()
    assert_refused(case, "edf_generate_segmentation", ["-m", "movie.h5", "-s", "target.h5", "--overwrite"],
                   ["target.h5: is a folder"])


def test_output_that_is_the_input(case, simulation):
    write_h5(case / "movie.h5", simulation.movie)
    write_events(simulation.events, case / "expert_annotation.xml")
    assert_refused(case, "edf_generate_segmentation", ["-m", "movie.h5", "-s", "movie.h5", "--overwrite"],
                   ["movie.h5: is also an input of this command"])


def _mount_tmpfs(folder: Path, options: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    return result.returncode == 0


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(size)``: a file system of ``size`` (e.g. "32k"; tmpfs: needs root and mount)."""
    mounted = []

    def mount(size):
        folder = tmp_path / f"small_disk_{size}"
        if not _mount_tmpfs(folder, f"size={size}"):
            pytest.skip("cannot mount a small tmpfs here (needs root); the in-process full-disk test covers it")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may write in: a read-only tmpfs as root (chmod does not stop root), else chmod 555."""
    folder = tmp_path / "read_only"
    if os.geteuid() == 0:
        if not _mount_tmpfs(folder, "size=32k,ro"):
            pytest.skip("running as root and cannot mount a read-only tmpfs: chmod would not stop root")
        yield folder
        subprocess.run(["umount", str(folder)], check=True)
    else:
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


def test_read_only_output_folder(case, simulation, read_only_folder):
    write_frames(case / "frames", simulation.movie)
    target = read_only_folder / "movie.h5"
    line = assert_refused(case, "edf_convert_tiff_to_h5", ["-t", "frames", "-o", target], [f"{target}: cannot write in"])
    assert "read-only file system" in line or "permission denied" in line
    assert list(read_only_folder.iterdir()) == []


def noise_frames(folder: Path, n_frames=8, size=64):
    """Frames of random noise: they do not compress, so they fill a small disk."""
    rng = np.random.default_rng(0)
    return write_frames(folder, rng.integers(0, 60000, (n_frames, size, size)).astype(np.uint16))


def test_full_disk_while_converting(case, small_disk):
    small_disk = small_disk("32k")
    noise_frames(case / "frames")
    assert_refused(case, "edf_convert_tiff_to_h5", ["-t", "frames", "-o", small_disk / "sub" / "movie.h5"],
                   [f"{small_disk / 'sub' / 'movie.h5'}: no space left on the disk"])
    assert list(small_disk.iterdir()) == []  # neither the file, nor its partial folder, nor the folder made for it


def test_full_disk_while_saving_scores(case, small_disk):
    """The case of the issue: HDF5 used to print a traceback, and once crashed the process (exit -11)."""
    small_disk = small_disk("8k")  # the segmentation with its scores takes about 15 KiB
    write_h5(case / "movie.h5", simulate_movie((16, 32, 32), n_events=2, n_spots=4, seed=1).movie)
    output = small_disk / "labels.h5"
    assert_refused(case, "edf_segment", ["-m", "movie.h5", "-s", output, "--save_scores"] + NETWORK,
                   [f"{output}: no space left on the disk"])
    assert list(small_disk.iterdir()) == []


def test_full_disk_in_process(tmp_path, simulation, monkeypatch, capsys):
    """Without a small disk to fill: every HDF5 write fails as on a full disk."""
    from exodeepfinder.cli import convert_tiff_to_h5

    write_frames(tmp_path / "frames", simulation.movie)
    before = snapshot(tmp_path)

    def full(self, key, value):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(h5py.Dataset, "__setitem__", full)
    assert convert_tiff_to_h5.main(["-t", str(tmp_path / "frames"), "-o", str(tmp_path / "out" / "movie.h5")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / 'out' / 'movie.h5'}: no space left on the disk\n"
    assert snapshot(tmp_path) == before


# --- interruptions -------------------------------------------------------------------------------------------

N_LONG = 1500


@pytest.fixture(scope="module")
def long_frames(tmp_path_factory):
    """A folder of many small frames: converting it takes a few seconds, writing all along."""
    folder = tmp_path_factory.mktemp("long") / "frames"
    return noise_frames(folder, N_LONG, 32)


def long_movie():
    """The movie of :func:`long_frames`."""
    return np.random.default_rng(0).integers(0, 60000, (N_LONG, 32, 32)).astype(np.uint16)


def _start_conversion(case, frames, output="movie.h5"):
    return subprocess.Popen(command("edf_convert_tiff_to_h5") + ["-t", str(frames), "-o", output], cwd=case,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment())


def _wait_for_partial(case, process, timeout=120):
    """Wait until ``process`` writes its partial output and its owner record; return its path.

    (A partial killed before its owner record is written is judged by its lease alone: see
    io.atomic.stale_reason.)
    """
    pattern = str(case / f".*.{process.pid}-*{PARTIAL_SUFFIX}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = glob.glob(pattern)
        if found and (not Path(found[0]).is_dir() or (Path(found[0]) / ".owner.exodeepfinder").exists()):
            return Path(found[0])
        assert process.poll() is None, f"finished before writing: {process.communicate()}"
        time.sleep(0.01)
    raise AssertionError("no partial output appeared")


@pytest.mark.parametrize("sent, status, message", [(signal.SIGINT, 130, "cancelled"),
                                                   (signal.SIGTERM, 143, "terminated"),
                                                   (signal.SIGHUP, 143, "terminated")])
def test_interrupted_while_writing_leaves_nothing(case, long_frames, sent, status, message):
    before = snapshot(case)
    process = _start_conversion(case, long_frames)
    _wait_for_partial(case, process)
    process.send_signal(sent)
    out, err = process.communicate(timeout=120)
    assert process.returncode == status, err
    assert err == f"{message}\n" and "Traceback" not in out
    assert snapshot(case) == before


def test_killed_run_is_cleaned_up_by_the_next(case, long_frames):
    process = _start_conversion(case, long_frames)
    partial = _wait_for_partial(case, process)
    process.kill()
    process.communicate(timeout=60)
    assert partial.exists() and not (case / "movie.h5").exists()  # a crash cannot clean up
    result = run(case, "edf_convert_tiff_to_h5", "-t", long_frames, "-o", "movie.h5")
    assert result.returncode == 0, result.stderr
    assert result.stderr == (f"warning: movie.h5: removed {partial.name}, left by an interrupted run "
                             f"(process {process.pid} no longer runs)\n")
    assert sorted(p.name for p in case.iterdir()) == ["movie.h5"]
    np.testing.assert_array_equal(read_h5(case / "movie.h5"), long_movie())


def test_two_runs_writing_the_same_output(case, long_frames):
    """One run writes the movie; the other (whether it sees the file at its early check or only when it
    publishes: see test_io_atomic for that race made certain) stops with one line and replaces nothing."""
    processes = [_start_conversion(case, long_frames) for _ in range(2)]
    results = [(p.returncode, out, err) for p in processes for out, err in [p.communicate(timeout=300)]]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    failed = next(err for code, _, err in results if code == 2)
    assert failed.count("\n") == 1 and "movie.h5: already exists (use --overwrite to replace it)" in failed
    assert sorted(p.name for p in case.iterdir()) == ["movie.h5"]
    np.testing.assert_array_equal(read_h5(case / "movie.h5"), long_movie())


# --- the traceback on demand ---------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["flag", "environment"])
def test_debug_shows_the_traceback(case, simulation, how):
    write_h5(case / "movie.h5", simulation.movie > 0)
    args = ["-m", "movie.h5"] + (["--debug"] if how == "flag" else [])
    env = environment(EXODEEPFINDER_DEBUG="1") if how == "environment" else None
    result = run(case, "edf_segment", *args, env=env)
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: movie.h5: the pixels are booleans")


def test_an_interruption_inside_a_finalizer_is_not_lost_nor_reported(monkeypatch):
    """The full suite once published a converted movie after SIGINT: the handler ran in a weakref
    callback, where Python prints the exception ("Exception ignored in ...") and drops it."""
    import weakref

    from exodeepfinder.cli import _common
    from exodeepfinder.progress import interrupt, report

    class Resource:
        pass

    reported = []  # what Python would print as "Exception ignored in ..."
    monkeypatch.setattr(sys, "unraisablehook", reported.append)
    with _common._terminate_cleanly():
        resource = Resource()
        weakref.finalize(resource, interrupt, KeyboardInterrupt())
        del resource  # the finalizer runs here
        with pytest.raises(KeyboardInterrupt):
            report(None, 1, 2)
    assert reported == []
    report(None, 2, 2)  # handled: forgotten

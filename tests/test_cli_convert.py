import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from exodeepfinder.cli import convert_tiff_to_h5
from exodeepfinder.cli.main import main as exodeepfinder_main
from exodeepfinder.io import read_h5
from exodeepfinder.simulation import simulate_movie

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def movie():
    return simulate_movie((6, 16, 20), n_events=1, n_spots=2, seed=5).movie


def write_frames(folder, movie):
    folder.mkdir(parents=True)
    for index, frame in enumerate(movie, start=1):
        tifffile.imwrite(folder / f"img_{index:04d}.tif", frame)
    return folder


def test_convert_default_output(tmp_path, movie):
    folder = write_frames(tmp_path / "cell1", movie)
    assert convert_tiff_to_h5.main(["--tiff", str(folder)]) == 0
    np.testing.assert_array_equal(read_h5(folder / "movie.h5"), movie)
    # the frames are left where they were
    assert len(list(folder.glob("*.tif"))) == len(movie)


def test_convert_stores_the_units_for_detect_and_report(tmp_path, movie, capsys):
    from exodeepfinder.io.movie import open_movie

    folder = write_frames(tmp_path / "cell1", movie)
    assert convert_tiff_to_h5.main(["--tiff", str(folder), "--pixel_size", "0.11", "--frame_interval", "0.05"]) == 0
    with open_movie(folder / "movie.h5") as opened:
        assert opened.pixel_size == (0.11, 0.11) and opened.frame_interval == 0.05
    assert convert_tiff_to_h5.main(["--tiff", str(folder), "--overwrite", "--pixel_size", "0.1", "0.12"]) == 0
    with open_movie(folder / "movie.h5") as opened:
        assert opened.pixel_size == (0.1, 0.12) and opened.frame_interval is None
    assert convert_tiff_to_h5.main(["--tiff", str(folder), "--overwrite", "--frame_interval", "-1"]) == 2
    assert "--frame_interval: must be a positive number" in capsys.readouterr().err


def test_convert_refuses_to_overwrite(tmp_path, movie, capsys):
    folder = write_frames(tmp_path / "cell1", movie)
    (folder / "movie.h5").write_text("precious")
    assert convert_tiff_to_h5.main(["-t", str(folder)]) == 2
    assert "already exists (use --overwrite" in capsys.readouterr().err
    assert (folder / "movie.h5").read_text() == "precious"
    assert convert_tiff_to_h5.main(["-t", str(folder), "--overwrite"]) == 0
    np.testing.assert_array_equal(read_h5(folder / "movie.h5"), movie)


def test_make_subfolder_and_placeholders(tmp_path, movie):
    folder = write_frames(tmp_path / "cell1", movie)
    code = exodeepfinder_main(["convert_tiff_to_h5", "-t", str(folder), "-ms",
                               "-o", str(tmp_path / "{movie.name}.h5")])
    assert code == 0
    assert sorted(p.name for p in (folder / "tiff").iterdir())[0] == "img_0001.tif"
    assert not list(folder.glob("*.tif"))
    np.testing.assert_array_equal(read_h5(tmp_path / "cell1.h5"), movie)


def test_batch_reports_and_skips_bad_folders(tmp_path, movie, capsys):
    write_frames(tmp_path / "movies" / "a", movie)
    write_frames(tmp_path / "movies" / "b" / "tiff", movie[:4])  # frames already in tiff/
    bad = write_frames(tmp_path / "movies" / "c", movie)
    (bad / "img_0002.tif").unlink()
    code = convert_tiff_to_h5.main(["--batch", str(tmp_path / "movies")])
    out = capsys.readouterr()
    assert code == 2
    assert "2 of 3 folder(s) done; skipped: c" in out.out
    assert "missing frame number(s) 2" in out.err
    np.testing.assert_array_equal(read_h5(tmp_path / "movies" / "a" / "movie.h5"), movie)
    np.testing.assert_array_equal(read_h5(tmp_path / "movies" / "b" / "movie.h5"), movie[:4])
    assert not (bad / "movie.h5").exists()


def test_entry_point_error_is_one_line_without_traceback(tmp_path):
    result = subprocess.run([str(BIN / "edf_convert_tiff_to_h5"), "--tiff", str(tmp_path / "nowhere")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nowhere'}: folder not found"
    help_text = subprocess.run([str(BIN / "exodeepfinder"), "convert_tiff_to_h5", "--help"],
                               capture_output=True, text=True).stdout
    assert "--make_subfolder" in help_text and "-ms" in help_text


def test_failed_conversion_moves_the_frames_back(tmp_path, movie, monkeypatch, capsys):
    """With -ms the frames are moved into tiff/ first; if the conversion then fails, they go back."""
    import errno

    import h5py

    folder = write_frames(tmp_path / "cell1", movie)
    before = sorted(p.name for p in folder.iterdir())

    def disk_full(self, key, value):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(h5py.Dataset, "__setitem__", disk_full)
    assert convert_tiff_to_h5.main(["-t", str(folder), "-ms"]) == 2
    assert capsys.readouterr().err == f"error: {folder / 'movie.h5'}: no space left on the disk\n"
    assert sorted(p.name for p in folder.iterdir()) == before  # frames back, no tiff/, no movie.h5

"""The simulated movie folder: its files, and all or nothing when writing fails or is cancelled."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from exodeepfinder.errors import Cancelled, InputError
from exodeepfinder.io.events import read_events
from exodeepfinder.io.h5 import read_h5
from exodeepfinder.simulation import OUTPUT_FILES, simulate_movie, simulate_to_folder
from exodeepfinder.simulation import folder as folder_module

SHAPE = (12, 40, 40)
OPTIONS = dict(n_events=2, n_spots=3)


def _contents(path):
    """Every file under ``path`` with its bytes (hidden scratch files included)."""
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_writes_the_movie_and_its_truth(tmp_path):
    calls = []
    sim = simulate_to_folder(tmp_path / "a" / "cell", SHAPE, 4, OPTIONS, tiff=True,
                             progress=lambda done, total: calls.append((done, total)))
    folder = tmp_path / "a" / "cell"
    assert sorted(p.name for p in folder.iterdir()) == sorted(OUTPUT_FILES + ("tiff",))
    assert np.array_equal(read_h5(folder / "movie.h5"), simulate_movie(SHAPE, seed=4, **OPTIONS).movie)
    events = read_events(folder / "expert_annotation.csv")
    assert list(events.kind) == list(sim.events.kind) and len(events) == 2
    record = json.loads((folder / "simulation.json").read_text())
    assert record["seed"] == 4 and record["n_events"] == 2 and record["randomized"] is False
    assert record["hot_pixels"] == [] and record["drift_per_frame"] == [0.0, 0.0]
    assert calls[-1] == (100, 100) and all(b[0] >= a[0] for a, b in zip(calls, calls[1:]))
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # no scratch folder left
    assert (folder.stat().st_mode & 0o777) == (0o777 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_cancel_leaves_nothing(tmp_path):
    with pytest.raises(Cancelled):
        simulate_to_folder(tmp_path / "new" / "cell", SHAPE, 0, OPTIONS, tiff=True,
                           progress=lambda done, total: done < 80)  # cancel while writing
    assert list(tmp_path.iterdir()) == []  # neither the folder, nor its parent, nor scratch files


def test_failure_while_writing_leaves_an_existing_folder_as_it_was(tmp_path, monkeypatch):
    folder = tmp_path / "cell"
    simulate_to_folder(folder, SHAPE, 1, OPTIONS)
    (folder / "notes.txt").write_text("the user's own file")
    before = _contents(folder)

    def broken_csv(table, path):
        raise OSError("disk full")

    monkeypatch.setattr(folder_module, "write_csv", broken_csv)
    with pytest.raises(OSError, match="disk full"):
        simulate_to_folder(folder, SHAPE, 2, OPTIONS, overwrite=True)
    assert _contents(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell"]


def test_failure_while_moving_into_place_restores_the_old_files(tmp_path, monkeypatch):
    folder = tmp_path / "cell"
    simulate_to_folder(folder, SHAPE, 1, OPTIONS)
    before = _contents(folder)
    real_replace, calls = os.replace, []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 5:  # after two files have been swapped
            raise OSError("device removed")
        return real_replace(src, dst)

    monkeypatch.setattr(folder_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="device removed"):
        simulate_to_folder(folder, SHAPE, 2, OPTIONS, overwrite=True)
    monkeypatch.undo()
    assert _contents(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell"]


def test_existing_files_and_bad_parameters_stop_before_any_work(tmp_path):
    folder = tmp_path / "cell"
    simulate_to_folder(folder, SHAPE, 1, OPTIONS)
    before = _contents(folder)
    with pytest.raises(InputError, match="movie.h5: already exists .*overwrite=True"):
        simulate_to_folder(folder, SHAPE, 2, OPTIONS)
    with pytest.raises(InputError, match="event_tau"):
        simulate_to_folder(tmp_path / "other", SHAPE, 2, {"event_tau": (3.0, 1.0)})
    assert _contents(folder) == before and sorted(p.name for p in tmp_path.iterdir()) == ["cell"]
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="not a folder"):
        simulate_to_folder(tmp_path / "file", SHAPE, 2, OPTIONS)


def test_randomized_folder_records_the_draw(tmp_path):
    sim = simulate_to_folder(tmp_path / "cell", (30, 64, 64), 5, {"n_events": 3}, randomize=True,
                             ranges={"drift": (0.05, 0.05), "hot_pixel_fraction": (0.002, 0.002)})
    record = json.loads((tmp_path / "cell" / "simulation.json").read_text())
    assert record["randomized"] is True and record["seed"] == 5 and record["n_events"] == 3
    assert record["settings"] == json.loads(json.dumps(sim.params["randomized"]))
    assert record["ranges"]["drift"] == [0.05, 0.05] and record["drift"] == 0.05
    assert np.hypot(*record["drift_per_frame"]) == pytest.approx(0.05)
    assert len(record["hot_pixels"]) == len(sim.hot_pixels) > 0
    assert record["camera"] == sim.params["camera"] and record["event_amplitude"] == sim.params["event_amplitude"]

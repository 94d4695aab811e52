"""Nothing a user has is replaced without being asked: library writers, the napari writers, detect's outputs,
the training-set save."""

from __future__ import annotations

import errno
from types import SimpleNamespace

import matplotlib
import matplotlib.figure
import numpy as np
import pandas as pd
import pytest

from exodeepfinder.cli import detect
from exodeepfinder.io.events import read_events, write_events
from exodeepfinder.io.figures import save_figure
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.io.segmentation import write_segmentation
from exodeepfinder.io.tables import write_csv
from exodeepfinder.simulation import simulate_movie

matplotlib.use("Agg")


def _events():
    return pd.DataFrame({"t": [1, 4], "y": [5.0, 9.0], "x": [6.0, 3.0], "class_label": [1, 1]})


WRITERS = {
    "events.csv": lambda path, **kw: write_events(_events(), path, **kw),
    "events.xml": lambda path, **kw: write_events(_events(), path, **kw),
    "table.csv": lambda path, **kw: write_csv(pd.DataFrame({"a": [1]}), path, **kw),
    "movie.h5": lambda path, **kw: write_h5(path, np.zeros((2, 4, 4), np.uint16), **kw),
    "seg.h5": lambda path, **kw: write_segmentation(np.zeros((2, 4, 4), np.int8), path, **kw),
    "figure.png": lambda path, **kw: save_figure(matplotlib.figure.Figure(), path, **kw),
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_library_writers_do_not_replace_by_default(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"the user's file")
    with pytest.raises(FileExistsError):
        WRITERS[name](path)
    assert path.read_bytes() == b"the user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    WRITERS[name](path, overwrite=True)
    assert path.read_bytes() != b"the user's file"


def test_napari_writers_write_the_confirmed_name_and_nothing_else(tmp_path):
    from exodeepfinder.gui._writer import write_events_csv, write_segmentation as write_labels

    (tmp_path / "cell.csv").write_text("someone else's table")
    data = np.array([[1, 5.0, 6.0], [4, 9.0, 3.0]])
    assert write_events_csv(str(tmp_path / "cell"), data, {}) == [str(tmp_path / "cell")]
    assert (tmp_path / "cell.csv").read_text() == "someone else's table"
    assert (tmp_path / "cell").read_text().startswith("tomo_idx,class_label,x,y,z")
    assert write_labels(str(tmp_path / "labels"), np.zeros((2, 4, 4), np.int8), {}) == [str(tmp_path / "labels")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell", "cell.csv", "labels"]
    # the name the dialog confirmed, with its own extension, is replaced (the dialog asked)
    write_events_csv(str(tmp_path / "cell.csv"), data, {})
    assert len(read_events(tmp_path / "cell.csv")) == 2


def test_detect_refuses_one_output_for_several_movies(tmp_path, capsys):
    for name in ("a", "b"):
        write_h5(tmp_path / f"{name}.h5", simulate_movie((6, 24, 24), n_events=1, n_spots=1, seed=1).movie)
    code = detect.main([str(tmp_path / "a.h5"), str(tmp_path / "b.h5"), "-e", str(tmp_path / "ev.csv"),
                        "--overwrite", "-mw", "bundled"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"ev.csv: --events is the same file for {tmp_path / 'a.h5'} and {tmp_path / 'b.h5'}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b.h5"]


def test_the_training_set_save_writes_all_its_files_or_none(tmp_path):
    pytest.importorskip("qtpy")
    from exodeepfinder.gui.widgets.training import TrainingSetWidget

    statuses = []

    def failing_movie():
        raise OSError(errno.ENOSPC, "No space left on device")

    widget = SimpleNamespace(
        merged=(np.zeros((2, 4, 4), np.int8), _events()),
        training_files=lambda folder: {"segmentation": folder / "merged_segmentation.h5",
                                       "annotation": folder / "merged_annotation.xml", "movie": folder / "movie.h5"},
        task=SimpleNamespace(set_status=lambda text, error=False: statuses.append((text, error))))
    widget._movie_layer = lambda: type("Layer", (), {"data": property(lambda self: failing_movie())})()
    assert TrainingSetWidget.save(widget, tmp_path) is None
    assert statuses and statuses[-1][1] and "no space left" in statuses[-1][0].lower()
    assert list(tmp_path.iterdir()) == []

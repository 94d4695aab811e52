"""A --batch rerun skips a folder only when its outputs are what the earlier run wrote, with the same options."""

from __future__ import annotations

import json

import pytest

from exodeepfinder.cli import detect_spots
from exodeepfinder.cli._common import build_parser
from exodeepfinder.distributed import batch_folders, run_folders
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.simulation import simulate_movie


@pytest.fixture
def folders(tmp_path):
    for i in range(2):
        simulation = simulate_movie((10, 32, 32), n_events=2, n_spots=4, n_flashes=0, n_flickers=0, n_moving=0,
                                    seed=20 + i)
        (tmp_path / f"cell{i}").mkdir()
        write_h5(tmp_path / f"cell{i}" / "movie.h5", simulation.movie)
    return batch_folders(tmp_path)


def run(folders, *options):
    return run_folders(detect_spots, build_parser(detect_spots).parse_args(list(options)), folders)


def test_changed_options_run_again_and_unchanged_ones_are_skipped(folders, capsys):
    assert [r.status for r in run(folders)] == ["done", "done"]
    record = json.loads((folders[0] / ".detector_segmentation.h5.exodeepfinder-done.json").read_text())
    assert record["parameters"]["pval"] == 0.001 and record["outputs"][0]["size"] > 0
    first = (folders[0] / "detector_segmentation.h5").read_bytes()
    assert [r.status for r in run(folders)] == ["skipped", "skipped"]
    capsys.readouterr()
    assert [r.status for r in run(folders, "--pval", "0.5")] == ["done", "done"]
    out = capsys.readouterr().out
    assert "options changed since its outputs were made (pval 0.001 -> 0.5): running again, replacing them" in out
    assert (folders[0] / "detector_segmentation.h5").read_bytes() != first
    assert [r.status for r in run(folders, "--pval", "0.5")] == ["skipped", "skipped"]


def test_an_empty_or_changed_output_is_reported_not_skipped(folders):
    assert [r.status for r in run(folders)] == ["done", "done"]
    (folders[0] / "detector_segmentation.h5").write_bytes(b"")
    with open(folders[1] / "detector_segmentation.h5", "ab") as handle:
        handle.write(b"x")
    results = run(folders)
    assert [r.status for r in results] == ["failed", "failed"]
    assert "detector_segmentation.h5: empty file (an interrupted copy or publish); remove it" in results[0].error
    assert "bytes, the run that made it wrote" in results[1].error
    # a file without a record (an older version's, a serial --batch run's) that is empty is not taken as done
    (folders[0] / ".detector_segmentation.h5.exodeepfinder-done.json").unlink()
    assert run(folders[:1])[0].status == "failed"
    assert [r.status for r in run(folders, "--overwrite")] == ["done", "done"]
    assert [r.status for r in run(folders)] == ["skipped", "skipped"]


def test_detect_resume_expects_its_provenance_record(tmp_path):
    """Found by the fault soak: an ENOSPC on ``*_run.json``, written after the results, left a folder whose
    rerun skipped it (results complete) without the record. The record is one of detect's outputs, so a
    folder without it is not complete."""
    from exodeepfinder.cli import detect
    from exodeepfinder.distributed.batch import folder_status

    cell = tmp_path / "cell0"
    cell.mkdir()
    write_h5(cell / "movie.h5", simulate_movie((4, 16, 16), n_events=1, seed=1).movie)
    args = build_parser(detect).parse_args(["--batch", str(tmp_path)])
    state, paths, events = folder_status(detect, args, cell)
    assert state == "missing" and cell / "movie_run.json" in paths and events == cell / "movie_events.csv"
    for path in paths:
        if path.name != "movie_run.json":
            path.write_text("made")
    assert folder_status(detect, args, cell)[0] == "partial"  # not skipped: reported, or run with --overwrite


def test_a_folder_whose_run_was_killed_while_publishing_runs_again(tmp_path):
    """A worker SIGKILLed between two links of detect's group of outputs left some published, and a rerun
    failed the folder as 'incomplete' (remove them or overwrite). The rerun now takes back what the
    killed run published, and runs the folder."""
    from test_io_atomic import publish_and_get_killed

    from exodeepfinder.cli import detect
    from exodeepfinder.distributed.batch import folder_status

    cell = tmp_path / "cell0"
    cell.mkdir()
    write_h5(cell / "movie.h5", simulate_movie((4, 16, 16), n_events=1, seed=1).movie)
    args = build_parser(detect).parse_args(["--batch", str(tmp_path)])
    paths = folder_status(detect, args, cell)[1]
    publish_and_get_killed(paths, after=3)
    assert sum(path.exists() for path in paths) == 3
    state, _, _ = folder_status(detect, args, cell)
    assert state == "missing" and not any(path.exists() for path in paths)
    assert sorted(p.name for p in cell.iterdir()) == ["movie.h5"]

"""`exodeepfinder report` (issue 29): an experiment laid out by `simulate --experiment`, its outputs, bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from exodeepfinder.cli import main as cli_main
from exodeepfinder.io.movie import open_movie

SMALL = ["--shape", "60", "96", "96", "--event_rate", "1.5", "--n_spots", "6", "--docked_fraction", "0.5",
         "--event_spread_fraction", "0.5"]
REPORT = ["--offset", "100", "--n_simulations", "39", "--no_cell_figures"]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """Two conditions of two cells, their true events beside each movie as `detect` would put its own."""
    folder = tmp_path_factory.mktemp("report") / "experiment"
    assert cli_main.main(["simulate", "--experiment", "-o", str(folder), "--n_cells", "2", *SMALL,
                          "--rate_effect", "2", "--condition_hotspots", "3"]) == 0
    for cell in folder.glob("*/cell_*"):
        shutil.copy(cell / "expert_annotation.csv", cell / "movie_events.csv")
    return folder


def test_simulate_experiment_layout_and_units(experiment):
    cells = sorted(p.relative_to(experiment).as_posix() for p in experiment.glob("*/cell_*"))
    assert cells == ["control/cell_01", "control/cell_02", "treated/cell_01", "treated/cell_02"]
    with open_movie(experiment / "control" / "cell_01" / "movie.h5") as movie:
        assert movie.pixel_size == (0.16, 0.16) and movie.frame_interval == pytest.approx(0.3)
    record = json.loads((experiment / "treated" / "cell_01" / "simulation.json").read_text())
    assert record["hotspots"] == 3 and record["events_per_um2_per_min"] > 0
    assert (experiment / "control" / "cell_01" / "cell_mask.tif").is_file()


def test_report_writes_the_contract_files(experiment, tmp_path, capsys):
    out = tmp_path / "report"
    assert cli_main.main(["report", "--batch", str(experiment), "-o", str(out), *REPORT]) == 0
    printed = capsys.readouterr()
    assert "control: median" in printed.out and "warning" not in printed.err  # units come from the HDF5 files
    cells = pd.read_csv(out / "cells.csv")
    for column in ("condition", "cell", "n_events", "area_um2", "duration_min", "events_per_um2_per_min",
                   "clustering_p"):
        assert column in cells.columns
    assert len(cells) == 4 and np.allclose(cells["duration_min"], 60 * 0.3 / 60)
    for _, row in cells.iterrows():
        record = json.loads((experiment / row["condition"] / row["cell"] / "simulation.json").read_text())
        assert abs(row["events_per_um2_per_min"] / record["events_per_um2_per_min"] - 1) <= 0.10
        assert abs(row["mask_area_um2"] / record["cell_area_um2"] - 1) <= 0.10
    events = pd.read_csv(out / "events.csv")
    for column in ("condition", "cell", "t", "y", "x", "origin", "release"):
        assert column in events.columns
    assert set(events["origin"]) <= {"docked", "arrived"}
    assert set(events["release"]) <= {"spreading", "in_place", "unknown"}
    tests = pd.read_csv(out / "tests.csv")
    rate = tests[tests["metric"] == "events_per_um2_per_min"].iloc[0]
    assert rate["ratio_b_over_a"] > 1.4  # the simulated condition effect (x2, with cell-to-cell variation)
    run = json.loads((out / "run.json").read_text())
    assert {"version", "date", "cpu", "parameters", "movies"} <= set(run)
    assert run["parameters"]["n_simulations"] == 39 and run["movies"][0]["pixel_size_um"] == [0.16, 0.16]
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 and "http" not in page.split("<body>", 1)[1][:2000]


def test_report_one_cell_condition_is_a_note_and_missing_units_warn(experiment, tmp_path, capsys):
    from exodeepfinder.io.h5 import read_h5, write_h5

    movie = read_h5(experiment / "control" / "cell_01" / "movie.h5")
    sheet_folder = tmp_path / "sheet"
    for name in ("a", "b", "c"):
        (sheet_folder / name).mkdir(parents=True)
        write_h5(sheet_folder / name / "movie.h5", movie)  # no units stored
        shutil.copy(experiment / "control" / "cell_01" / "movie_events.csv", sheet_folder / name / "movie_events.csv")
    (sheet_folder / "sheet.csv").write_text("movie,condition\na/movie.h5,ctrl\nb/movie.h5,ctrl\nc/movie.h5,drug\n")
    out = tmp_path / "out"
    assert cli_main.main(["report", str(sheet_folder / "sheet.csv"), "-o", str(out), *REPORT]) == 0
    printed = capsys.readouterr()
    assert "note: test skipped: drug has 1 cell(s)" in printed.out
    assert "--pixel_size" in printed.err and "--frame_interval" in printed.err
    cells = pd.read_csv(out / "cells.csv")
    assert cells["area_um2"].isna().all() and (cells["n_events"] > 0).all()
    assert cli_main.main(["report", str(sheet_folder / "sheet.csv"), "-o", str(out / "units"), *REPORT,
                          "--pixel_size", "0.16", "--frame_interval", "0.3"]) == 0
    assert "--pixel_size" not in capsys.readouterr().err
    assert np.isfinite(pd.read_csv(out / "units" / "cells.csv")["events_per_um2_per_min"]).all()


def _one_error(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0]
    return err[0]


def test_report_bad_input_is_one_line(experiment, tmp_path, capsys):
    import tifffile

    cell = experiment / "control" / "cell_01"
    out = tmp_path / "out"
    assert cli_main.main(["report", str(cell / "movie.h5"), "-o", str(out), "--events", "{movie.parent}/nothing.csv",
                          *REPORT]) == 2
    assert "nothing.csv: events file not found" in _one_error(capsys)
    tifffile.imwrite(tmp_path / "small.tif", np.ones((10, 10), np.uint8))
    assert cli_main.main(["report", str(cell / "movie.h5"), "-o", str(out), "--mask", str(tmp_path / "small.tif"),
                          *REPORT]) == 2
    assert "10 x 10 does not match the movie's frames (96 x 96)" in _one_error(capsys)
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(cell / "movie.h5", empty / "movie.h5")
    (empty / "movie_events.csv").write_text("tomo_idx,class_label,x,y,z\n")
    assert cli_main.main(["report", str(empty / "movie.h5"), "-o", str(out), *REPORT]) == 2
    assert "no events" in _one_error(capsys)
    assert not out.exists() or not any(out.iterdir())  # nothing half-written
    assert cli_main.main(["report", "-o", str(out)]) == 2
    assert "give one movie" in _one_error(capsys)


def test_report_with_mask_files_and_single_movie(experiment, tmp_path):
    cell = experiment / "treated" / "cell_01"
    out = tmp_path / "out"
    assert cli_main.main(["report", str(cell / "movie.h5"), "-o", str(out), "--mask", "{movie.parent}/cell_mask.tif",
                          "--offset", "100", "--n_simulations", "39"]) == 0
    cells = pd.read_csv(out / "cells.csv")
    record = json.loads((cell / "simulation.json").read_text())
    assert cells["mask_source"].iloc[0] == "file"
    assert cells["mask_area_um2"].iloc[0] == pytest.approx(record["cell_area_um2"])
    assert cells["clustering_p"].iloc[0] < 0.05  # 3 hotspots
    assert (out / "report.html").read_text().count("data:image/png;base64,") >= 4  # with the cell's figure
    assert cli_main.main(["report", str(cell / "movie.h5"), "-o", str(out), "--n_simulations", "39"]) == 2

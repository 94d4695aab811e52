"""edf_generate_segmentation, edf_generate_annotation and edf_evaluate through their entry points."""

import h5py
import numpy as np
import pandas as pd
import pytest

from exodeepfinder.cli import evaluate, generate_annotation, generate_segmentation
from exodeepfinder.cli.main import main as exodeepfinder_main
from exodeepfinder.events.targets import events_to_labels
from exodeepfinder.io.events import make_events, read_events, write_events
from exodeepfinder.io.h5 import read_h5, write_h5
from exodeepfinder.simulation.simulate import simulate_movie

SHAPE = (120, 64, 64)


@pytest.fixture(scope="module")
def simulation():
    return simulate_movie(SHAPE, n_events=8, n_spots=5, event_amplitude=1200, event_separation=12, seed=5)


def make_movie_folder(folder, simulation, annotation_name="expert_annotation.xml"):
    folder.mkdir(parents=True, exist_ok=True)
    write_h5(folder / "movie.h5", simulation.movie)
    write_events(simulation.events[["t", "y", "x", "class_label"]], folder / annotation_name)
    return folder


def write_prediction(path, simulation, *, with_scores=True):
    """A segmentation as edf_segment writes it: events as label 2, optional class probabilities."""
    labels = events_to_labels(simulation.events, SHAPE, label=2)
    with h5py.File(path, "w") as handle:
        handle["dataset"] = labels
        if with_scores:
            scores = np.zeros((SHAPE[0], 3) + SHAPE[1:], np.float16)
            scores[:, 0] = 1
            scores[:, 2][labels == 2] = 0.8
            handle["scores"] = scores
    return path


def test_generate_segmentation_paints_the_reference_mask(tmp_path, simulation, capsys):
    folder = make_movie_folder(tmp_path / "cell", simulation)
    assert generate_segmentation.main(["-m", str(folder / "movie.h5")]) == 0
    labels = read_h5(folder / "expert_segmentation.h5")
    assert labels.dtype == np.int8 and labels.shape == SHAPE
    np.testing.assert_array_equal(labels, events_to_labels(simulation.events, SHAPE))
    assert "8 events" in capsys.readouterr().out
    # an existing output is never replaced silently
    assert generate_segmentation.main(["-m", str(folder / "movie.h5")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert generate_segmentation.main(["-m", str(folder / "movie.h5"), "--overwrite"]) == 0


def test_generate_segmentation_from_csv_with_bom_and_bad_annotations(tmp_path, simulation, capsys):
    folder = make_movie_folder(tmp_path / "cell", simulation)
    csv = folder / "excel.csv"
    csv.write_bytes(b"\xef\xbb\xbftomo_idx,class_label,x,y,z\n0,1,10,20,30\n0,1,63,0,119\n")
    out = folder / "seg.h5"
    assert generate_segmentation.main(["-m", str(folder / "movie.h5"), "-a", str(csv), "-s", str(out)]) == 0
    labels = read_h5(out)
    assert labels[30].sum() == 49 and labels[119].sum() > 0 and labels[32, 20, 10] == 1
    for content, message in [("class_label,x,y,z\n3,1,1,1\n", "class_label 3"),
                             ("class_label,x,y,z\n1,1,1,500\n", "outside the movie"),
                             ("class_label,x,y\n1,1,1\n", "missing column")]:
        csv.write_text(content)
        code = generate_segmentation.main(["-m", str(folder / "movie.h5"), "-a", str(csv), "-s", str(out),
                                           "--overwrite"])
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1 and str(csv) in err


def test_generate_annotation_with_scores_filters_and_measurements(tmp_path, simulation, capsys):
    folder = make_movie_folder(tmp_path / "cell", simulation)
    segmentation = write_prediction(folder / "movie_segmentation.h5", simulation)
    assert generate_annotation.main(["-s", str(segmentation), "--movie", str(folder / "movie.h5"),
                                     "--camera_offset", "100"]) == 0
    out = capsys.readouterr().out
    assert "wrote 8 events" in out and "annotation_measurements.csv" in out
    events = read_events(folder / "annotation.xml")
    assert list(events.columns) == ["t", "y", "x", "class_label", "obj_id", "cluster_size", "score"]
    assert (events["cluster_size"] == 63).all()
    np.testing.assert_allclose(events[["y", "x"]].to_numpy(),
                               simulation.events.sort_values("t")[["y", "x"]].round().to_numpy(), atol=0.01)
    measured = pd.read_csv(folder / "annotation_measurements.csv")
    assert {"decay_tau", "peak_dff", "peak_snr", "decay_ratio", "spot_sigma", "measure_note"} <= set(measured.columns)
    assert (measured["measure_note"] == "ok").mean() >= 0.75
    # measured: the score of exodeepfinder detect; these true events keep most of their probability
    assert np.allclose(measured["probability"], 0.8, atol=1e-3)
    np.testing.assert_allclose(events["score"], measured["score"], atol=1e-3)
    assert (measured["score"] <= measured["probability"]).all() and measured["score"].median() >= 0.6
    # CSV output, and filters
    assert generate_annotation.main(["-s", str(segmentation), "-a", str(folder / "big.csv"), "--min_size", "64"]) == 0
    assert "no events found" in capsys.readouterr().out
    assert len(read_events(folder / "big.csv")) == 0
    assert generate_annotation.main(["-s", str(segmentation), "-a", str(folder / "sure.csv"),
                                     "--min_score", "0.5", "-cr", "4"]) == 0
    assert len(read_events(folder / "sure.csv")) == 8


def test_generate_annotation_errors_and_empty_maps(tmp_path, simulation, capsys):
    no_scores = write_prediction(tmp_path / "seg.h5", simulation, with_scores=False)
    assert generate_annotation.main(["-s", str(no_scores), "--min_score", "0.5"]) == 2
    assert "--save_scores" in capsys.readouterr().err
    assert generate_annotation.main(["-s", str(tmp_path / "nope.h5")]) == 2
    assert "file not found" in capsys.readouterr().err
    write_h5(tmp_path / "spots_only.h5", np.ones((5, 8, 8), np.int8))
    assert generate_annotation.main(["-s", str(tmp_path / "spots_only.h5"), "-a", str(tmp_path / "e.xml")]) == 0
    assert "no events found" in capsys.readouterr().out
    assert read_events(tmp_path / "e.xml").empty
    assert generate_annotation.main(["-s", str(tmp_path / "spots_only.h5"), "-a", str(tmp_path / "e.xml"),
                                     "-klu", "--overwrite"]) == 0
    assert read_events(tmp_path / "e.xml")["cluster_size"].tolist() == [320]


def test_evaluate_counts_writes_matches_and_pr_curve(tmp_path, simulation, capsys):
    folder = make_movie_folder(tmp_path / "cell", simulation)
    reference = simulation.events
    detected = pd.concat([reference.iloc[:6], make_events([5, 60], [30, 30], [30, 30])], ignore_index=True)
    detected = detected.assign(score=[0.9] * 6 + [0.2, 0.3])
    write_events(detected, folder / "annotation.csv")
    assert evaluate.main(["-a", str(folder / "annotation.csv"), "-r", str(folder / "expert_annotation.xml")]) == 0
    out = capsys.readouterr().out
    assert "tp 6, fp 2, fn 2: precision 0.750, recall 0.750, F1 0.750" in out
    table = pd.read_csv(folder / "annotation_evaluation.csv")
    assert table["status"].value_counts().to_dict() == {"tp": 6, "fp": 2, "fn": 2}
    assert (table.loc[table["status"] == "tp", "distance"] < 1).all()
    curve = pd.read_csv(folder / "annotation_evaluation_pr_curve.csv")
    assert curve["precision"].iloc[-1] == 1.0 and curve["recall"].iloc[-1] == 0.75
    assert (folder / "annotation_evaluation_pr_curve.png").stat().st_size > 1000
    assert "best F1 0.857" in out


def test_batch_pipeline_with_pooled_evaluation(tmp_path, simulation, capsys):
    for name in ("movie1", "movie2"):
        make_movie_folder(tmp_path / name, simulation)
        write_prediction(tmp_path / name / "movie_segmentation.h5", simulation)
    # the expert segmentations, then the events of the predictions, then the evaluation
    assert generate_segmentation.main(["--batch", str(tmp_path)]) == 0
    assert (tmp_path / "movie2" / "expert_segmentation.h5").is_file()
    assert generate_annotation.main(["--batch", str(tmp_path), "-a", "detected.csv", "--movie", "movie.h5"]) == 0
    assert "decay_tau" in pd.read_csv(tmp_path / "movie1" / "detected.csv").columns
    capsys.readouterr()
    assert evaluate.main(["--batch", str(tmp_path), "-a", "detected.csv"]) == 0
    out = capsys.readouterr().out
    assert "pooled over 2 movie(s): tp 16, fp 0, fn 0" in out
    assert "F1 1.000 (95% interval over movies 1.000-1.000)" in out
    summary = pd.read_csv(tmp_path / "evaluation_summary.csv")
    assert list(summary["movie"]) == ["movie1", "movie2", "pooled"] and (summary["f1"] == 1).all()
    assert summary["f1_low"].isna().tolist() == [True, True, False] and summary["f1_high"].iloc[-1] == 1
    # the subcommand form runs the same code
    assert exodeepfinder_main(["evaluate", "--batch", str(tmp_path), "-a", "detected.csv"]) == 2
    assert "already exists" in capsys.readouterr().err

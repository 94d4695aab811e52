"""edf_train learns: fine-tuning on a simulated training set raises the validation scores, and the
saved weights segment a held-out simulated movie with edf_segment, where its events are found.

The training set is made with the training-set tools (built-in spot detector, merge, dataset
layout). Training starts from the official weights (fine-tuning, the common use): from random
weights, a few minutes of CPU are not enough for the reference recipe to learn events (see
docs/training.md).
"""

import pytest

from exodeepfinder.cli.segment import main as segment_main
from exodeepfinder.cli.train import main as train_main
from exodeepfinder.events import cluster_events, match_events
from exodeepfinder.io.h5 import read_h5, write_h5
from exodeepfinder.simulation.simulate import simulate_movie
from exodeepfinder.training.history import read_history
from test_training_dataset import make_training_dataset


@pytest.mark.slow
def test_fine_tuning_learns_and_segments_a_held_out_movie(tmp_path, official_weights, capsys):
    dataset = make_training_dataset(tmp_path, n_movies=3, shape=(64, 64, 64), n_events=25, n_spots=15, seed=0)
    output = tmp_path / "run"
    assert train_main(["-d", str(dataset), "-o", str(output), "-wp", str(official_weights), "-ps", "16", "-bs", "8",
                       "-rs", "4", "-ne", "6", "-ns", "10", "-spv", "4", "-lr", "3e-4", "--seed", "0"]) == 0
    history = read_history(output / "net_train_history.h5")
    event_f1, spot_f1 = history["val_f1"][:, 2], history["val_f1"][:, 1]
    print("validation loss", history["val_loss"], "spot F1", spot_f1, "event F1", event_f1)
    assert history["val_loss"][-1] < history["val_loss"][0] - 0.03
    assert event_f1[-1] > event_f1[0] + 0.03 and spot_f1[-1] > 0.8

    held_out = simulate_movie((64, 64, 64), n_events=25, n_spots=15, seed=100)
    movie = write_h5(tmp_path / "held_out" / "movie.h5", held_out.movie)
    assert segment_main(["-m", str(movie), "-mw", str(output / "net_weights_FINAL.h5"), "-ps", "64"]) == 0
    labels = read_h5(tmp_path / "held_out" / "movie_segmentation.h5")
    events = cluster_events(labels, 5)
    summary = match_events(events, held_out.events, tolerance=5).summary
    print("held-out movie:", summary)
    assert summary["recall"] >= 0.5 and summary["precision"] >= 0.5

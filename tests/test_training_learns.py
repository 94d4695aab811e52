"""edf_train learns: from random weights with the default recipe (where the reference recipe learns
nothing in the same steps), and by fine-tuning the official weights, whose result segments a held-out
simulated movie with edf_segment, where its events are found.

The training sets are made with the training-set tools (built-in spot detector, merge, dataset
layout) from simulated movies.
"""

import numpy as np
import pytest

from exodeepfinder.cli.segment import main as segment_main
from exodeepfinder.cli.train import main as train_main
from exodeepfinder.events import cluster_events, match_events
from exodeepfinder.io.h5 import read_h5, write_h5
from exodeepfinder.model.keras_weights import read_unet_arrays
from exodeepfinder.simulation.simulate import simulate_movie
from exodeepfinder.training import train
from exodeepfinder.training.history import read_history
from test_training_dataset import make_training_dataset


@pytest.mark.slow
def test_default_recipe_learns_from_random_weights_where_the_reference_does_not(tmp_path):
    dataset = make_training_dataset(tmp_path, n_movies=3, shape=(48, 64, 64), n_events=16, n_spots=12, seed=0)
    stages = dict(patch_sizes=16, batch_sizes=8, random_shifts=6, n_epochs=8, n_steps=25, steps_per_valid=4,
                  seed=0, device="cpu")
    default = train(dataset, tmp_path / "default", **stages)
    reference = train(dataset, tmp_path / "reference", loss="tversky", **{**stages, "n_epochs": 3})
    spot_f1, event_f1 = default["val_f1"][:, 1], default["val_f1"][:, 2]
    print("default: spot F1", spot_f1, "event F1", event_f1, "; reference:", reference["val_f1"][:, 1:])
    # the default recipe finds spots, then events, within 200 steps of 8 patches of 16^3 voxels
    assert spot_f1[-1] > 0.6 and event_f1[-1] > 0.4
    assert default["val_loss"][-1] < default["val_loss"][0] - 0.3
    # the reference recipe (its loss, initialisation and learning rate) has collapsed to background
    assert reference["val_f1"][-1, 1:].max() < 0.05


@pytest.mark.slow
def test_fine_tuning_learns_and_segments_a_held_out_movie(tmp_path, official_weights, capsys):
    dataset = make_training_dataset(tmp_path, n_movies=3, shape=(64, 64, 64), n_events=25, n_spots=15, seed=0)
    output = tmp_path / "run"
    assert train_main(["-d", str(dataset), "-o", str(output), "-wp", str(official_weights), "-ps", "16", "-bs", "8",
                       "-rs", "4", "-ne", "6", "-ns", "10", "-spv", "4", "--seed", "0"]) == 0
    history = read_history(output / "net_train_history.h5")
    event_f1, spot_f1 = history["val_f1"][:, 2], history["val_f1"][:, 1]
    print("validation loss", history["val_loss"], "spot F1", spot_f1, "event F1", event_f1)
    assert "loss tversky" in capsys.readouterr().out, "fine-tuning defaults to the recipe the weights were made with"
    assert np.isfinite(history["loss"]).all()
    # what the official weights know survives (fine-tuning with cross-entropy took the event F1 to 0)
    assert event_f1[-1] >= event_f1[0] - 0.05 and spot_f1[-1] > 0.8
    official, tuned = read_unet_arrays(official_weights), read_unet_arrays(output / "net_weights_FINAL.h5")
    assert max(float(np.abs(a - b).max()) for (a, _), (b, _) in zip(official, tuned)) > 1e-4, "the weights changed"

    held_out = simulate_movie((64, 64, 64), n_events=25, n_spots=15, seed=100)
    movie = write_h5(tmp_path / "held_out" / "movie.h5", held_out.movie)
    summaries = {}
    for name, weights in (("official", official_weights), ("fine-tuned", output / "net_weights_FINAL.h5")):
        segmentation = tmp_path / "held_out" / f"{name}.h5"
        assert segment_main(["-m", str(movie), "-mw", str(weights), "-ps", "64", "-s", str(segmentation)]) == 0
        events = cluster_events(read_h5(segmentation), 5)
        summaries[name] = match_events(events, held_out.events, tolerance=5).summary
    print("held-out movie:", summaries)
    # the fine-tuned weights still find the events of a movie they never saw, as the official ones do
    assert summaries["fine-tuned"]["recall"] >= summaries["official"]["recall"] - 0.1
    assert summaries["fine-tuned"]["f1"] >= summaries["official"]["f1"] - 0.1 and summaries["fine-tuned"]["f1"] >= 0.4
    assert np.isfinite(history["loss"]).all()

"""``edf_segment`` through its real entry point."""

import h5py
import numpy as np
import pytest

from exodeepfinder.cli.segment import main
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.simulation import simulate_movie

# movies of at most 48 x 48 pixels and patches of 100: one network window per run (fast tests)
SHAPE = (30, 48, 48)


@pytest.fixture(scope="module")
def simulation():
    return simulate_movie(SHAPE, n_events=4, n_spots=4, seed=5)


def test_segment_writes_labels_scores_and_pictures(tmp_path, simulation, network_weights, capsys):
    movie = write_h5(tmp_path / "cell.h5", simulation.movie)
    code = main(["-m", str(movie), "-mw", str(network_weights), "-ps", "100", "--save_scores", "-v", "--device", "cpu"])
    assert code == 0
    output = tmp_path / "cell_segmentation.h5"
    with h5py.File(output, "r") as handle:
        labels, scores = handle["dataset"][()], handle["scores"][()]
    assert labels.dtype == np.int8 and labels.shape == SHAPE
    assert scores.dtype == np.float16 and scores.shape == (SHAPE[0], 3) + SHAPE[1:]
    assert set(np.unique(labels)) <= {0, 1, 2} and (labels == 2).sum() > 20
    np.testing.assert_allclose(scores.astype(np.float32).sum(axis=1), 1, atol=5e-3)
    assert (np.argmax(scores, axis=1) == labels).mean() > 0.999
    # event voxels lie on the simulated events
    found = [labels[int(e.t):int(e.t) + 4, max(int(e.y) - 2, 0):int(e.y) + 3, max(int(e.x) - 2, 0):int(e.x) + 3].max() == 2
             for e in simulation.events.itertuples()]
    assert sum(found) >= len(found) / 2, found
    for name in ("movie", "labels"):
        assert (tmp_path / f"cell_segmentation_{name}_orthoslices.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert f"weights: {network_weights}" in out and f"wrote {output}" in out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary files left"


def test_segment_refuses_to_overwrite_and_checks_patch_size(tmp_path, simulation, network_weights, capsys):
    movie = write_h5(tmp_path / "movie.h5", simulation.movie)
    output = tmp_path / "labels.h5"
    output.write_bytes(b"keep me")
    assert main(["-m", str(movie), "-mw", str(network_weights), "-s", str(output)]) == 2
    assert "already exists" in capsys.readouterr().err and output.read_bytes() == b"keep me"
    with pytest.raises(SystemExit) as exit_info:
        main(["-m", str(movie), "-ps", "150"])
    assert exit_info.value.code == 2 and "multiple of 4" in capsys.readouterr().err
    assert main(["-m", str(tmp_path / "missing.h5"), "-mw", str(network_weights)]) == 2
    assert "missing.h5: file not found" in capsys.readouterr().err


def test_segment_batch_of_folders_and_tiff_stack(tmp_path, simulation, network_weights):
    import tifffile

    for name in ("cell1", "cell2"):
        (tmp_path / name).mkdir()
        write_h5(tmp_path / name / "movie.h5", simulation.movie)
    assert main(["-b", str(tmp_path), "-mw", str(network_weights), "-ps", "100", "--precision", "fp32"]) == 0
    first = h5py.File(tmp_path / "cell1" / "movie_segmentation.h5", "r")["dataset"][()]
    second = h5py.File(tmp_path / "cell2" / "movie_segmentation.h5", "r")["dataset"][()]
    np.testing.assert_array_equal(first, second)
    # a TIFF stack gives the same labels as the same movie in HDF5
    tifffile.imwrite(tmp_path / "stack.tif", simulation.movie)
    assert main(["-m", str(tmp_path / "stack.tif"), "-mw", str(network_weights), "-ps", "100",
                 "--precision", "fp32"]) == 0
    stack = h5py.File(tmp_path / "stack_segmentation.h5", "r")["dataset"][()]
    np.testing.assert_array_equal(stack, first)

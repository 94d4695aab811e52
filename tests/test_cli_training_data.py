"""The training-set preparation chain through its real entry points, with --batch, on simulated movies."""

import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from exodeepfinder.cli import detect_spots, detect_spots_with_atlas, merge_detector_expert, structure_training_dataset
from exodeepfinder.events.targets import events_to_labels
from exodeepfinder.io.events import read_events, write_events
from exodeepfinder.io.h5 import read_h5, write_h5
from exodeepfinder.simulation.simulate import simulate_movie

BIN = Path(sys.executable).parent


@pytest.fixture
def movies(tmp_path):
    """data/cell{1,2,3}: movie.h5 and expert_annotation.xml; cell3 has no annotation."""
    data = tmp_path / "data"
    sims = {}
    for seed, name in enumerate(("cell1", "cell2", "cell3")):
        sim = simulate_movie((40, 64, 80), n_events=4, n_spots=12, seed=seed)
        folder = data / name
        folder.mkdir(parents=True)
        write_h5(folder / "movie.h5", sim.movie)
        if name != "cell3":
            write_events(sim.events, folder / "expert_annotation.xml")
        sims[name] = sim
    return data, sims


def _generate_expert_segmentations(data):
    from exodeepfinder.cli import generate_segmentation

    assert generate_segmentation.main(["--batch", str(data)]) == 2  # cell3 has no annotation


def test_preparation_chain_with_batch(movies, tmp_path, capsys):
    data, sims = movies
    _generate_expert_segmentations(data)
    for name in ("cell1", "cell2"):
        expert = read_h5(data / name / "expert_segmentation.h5")
        assert np.array_equal(expert, events_to_labels(sims[name].events, sims[name].movie.shape, label=1))
    assert detect_spots.main(["--batch", str(data)]) == 0
    out = capsys.readouterr().out
    assert "3 of 3 folder(s) done" in out and out.count("built-in detector found") == 3
    for name in sims:
        mask = read_h5(data / name / "detector_segmentation.h5")
        assert mask.shape == sims[name].movie.shape and mask.dtype == np.uint8 and 0 < mask.mean() < 0.2

    # a second run refuses to overwrite, says so per movie, and leaves the files as they were
    before = (data / "cell1" / "detector_segmentation.h5").stat().st_mtime_ns
    assert detect_spots.main(["--batch", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("already exists (use --overwrite") == 3
    assert (data / "cell1" / "detector_segmentation.h5").stat().st_mtime_ns == before

    assert merge_detector_expert.main(["--batch", str(data)]) == 2  # cell3 has no expert annotation
    captured = capsys.readouterr()
    assert "skipped cell3" in captured.err and "expert_annotation.xml: file not found" in captured.err
    assert "2 of 3 folder(s) done; skipped: cell3" in captured.out
    for name in ("cell1", "cell2"):
        merged = read_h5(data / name / "merged_segmentation.h5")
        expert = read_h5(data / name / "expert_segmentation.h5")
        assert merged.dtype == np.int8 and np.array_equal(merged == 2, expert == 1)
        annotation = read_events(data / name / "merged_annotation.xml")
        assert (annotation.class_label == 2).sum() == len(sims[name].events)
        assert (annotation.class_label == 1).sum() > 20

    assert structure_training_dataset.main(["-i", str(data), "-o", str(tmp_path / "dataset"), "--seed", "0"]) == 0
    captured = capsys.readouterr()
    assert "train (1)" in captured.out and "valid (1)" in captured.out
    assert "skipped cell3: missing merged_segmentation.h5, merged_annotation.xml" in captured.err
    for subset in ("train", "valid"):
        (name,) = {p.name.split(".")[0].split("_")[0] for p in (tmp_path / "dataset" / subset).iterdir()}
        folder = tmp_path / "dataset" / subset
        assert np.array_equal(read_h5(folder / f"{name}.h5"), sims[name].movie)
        assert np.array_equal(read_h5(folder / f"{name}_target.h5"), read_h5(data / name / "merged_segmentation.h5"))
        assert len(read_events(folder / f"{name}_objl.xml")) == len(read_events(data / name / "merged_annotation.xml"))
    # the dataset exists now: running again is an error and changes nothing
    listing = sorted(str(p) for p in (tmp_path / "dataset").rglob("*"))
    assert structure_training_dataset.main(["-i", str(data), "-o", str(tmp_path / "dataset")]) == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(str(p) for p in (tmp_path / "dataset").rglob("*")) == listing


def test_merge_options(movies, capsys):
    data, sims = movies
    _generate_expert_segmentations(data)
    folder = data / "cell1"
    assert detect_spots.main(["-m", str(folder / "movie.h5")]) == 0
    assert merge_detector_expert.main(["-ds", str(folder / "detector_segmentation.h5"),
                                       "-ea", str(folder / "expert_annotation.xml"),
                                       "-es", str(folder / "expert_segmentation.h5"),
                                       "-ma", str(folder / "merged.csv"), "--max_spots", "7", "--seed", "3"]) == 0
    table = read_events(folder / "merged.csv")
    assert (table.class_label == 1).sum() == 7 and (table.class_label == 2).sum() == len(sims["cell1"].events)


def test_detect_spots_on_tiff_folder_default_input(tmp_path, capsys, monkeypatch):
    sim = simulate_movie((12, 48, 64), n_events=0, n_spots=8, seed=5)
    frames = tmp_path / "cell" / "tiff"
    frames.mkdir(parents=True)
    for i, frame in enumerate(sim.movie):
        tifffile.imwrite(frames / f"img_{i + 1:03d}.tif", frame)
    monkeypatch.chdir(tmp_path / "cell")
    assert detect_spots.main([]) == 0  # default input: tiff/
    mask = read_h5(tmp_path / "cell" / "detector_segmentation.h5")
    assert mask.shape == sim.movie.shape and mask.any()
    # detect_spots_with_atlas without Atlas: the built-in method with the parsed --atlas_args
    assert detect_spots_with_atlas.main(["--builtin", "-aa", "-rad 21 -pval 0.001 -arealim 3",
                                         "-o", "atlas.h5"]) == 0
    assert np.array_equal(read_h5(tmp_path / "cell" / "atlas.h5"), mask)
    assert detect_spots_with_atlas.main(["--builtin", "-aa", "-rad 21 -foo 2", "-o", "x.h5"]) == 2
    assert "--atlas_args" in capsys.readouterr().err and not (tmp_path / "cell" / "x.h5").exists()


FAKE_DETECTOR = """
import sys
from pathlib import Path
import tifffile
source, target = Path(sys.argv[1]), Path(sys.argv[2])
if len(sys.argv) > 3:
    sys.exit("cannot open the frames: " + sys.argv[3])
for frame in sorted(source.iterdir()):
    tifffile.imwrite(target / frame.name, (tifffile.imread(frame) > 1000).astype("uint8"))
"""


def test_detect_spots_external_command(tmp_path, capsys):
    movie = np.full((4, 16, 16), 200, np.uint16)
    movie[1, 4:7, 4:7] = 3000
    write_h5(tmp_path / "movie.h5", movie)
    script = tmp_path / "detector.py"
    script.write_text(FAKE_DETECTOR)
    command = f'"{sys.executable}" {{detector}} {{input}} {{output}}'
    assert detect_spots.main(["-m", str(tmp_path / "movie.h5"), "-dp", str(script), "-dc", command]) == 0
    mask = read_h5(tmp_path / "detector_segmentation.h5")
    assert mask.sum() == 9 and mask[1, 4:7, 4:7].all()
    assert "external detector found 1 spot(s)" in capsys.readouterr().out
    result = subprocess.run([str(BIN / "edf_detect_spots"), "-m", str(tmp_path / "movie.h5"), "-o",
                             str(tmp_path / "other.h5"), "-dp", str(script), "-dc", command + " broken"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and not (tmp_path / "other.h5").exists()
    assert result.stderr.startswith("error: --detector_command:")
    assert "exit status 1: cannot open the frames: broken" in result.stderr


def test_detect_spots_with_atlas_programs(tmp_path, capsys):
    # stand-ins for Atlas' programs: blobsref writes blobs.txt, atlas needs it and thresholds one frame
    atlas_folder = tmp_path / "atlas_bin"
    atlas_folder.mkdir()
    scripts = {
        "blobsref": "from pathlib import Path\nPath('blobs.txt').write_text('table')\n",
        "atlas": ("import sys\nfrom pathlib import Path\nimport tifffile\n"
                  "assert Path('blobs.txt').exists(), 'blobs.txt missing'\n"
                  "a = sys.argv[1:]\nsource, target = a[a.index('-i') + 1], a[a.index('-o') + 1]\n"
                  "assert a[a.index('-rad') + 1] == '15'\n"
                  "tifffile.imwrite(target, (tifffile.imread(source) > 1000).astype('uint8') * 255)\n"),
    }
    for name, text in scripts.items():
        path = atlas_folder / name
        path.write_text(f"#!{sys.executable}\n{text}")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    movie = np.full((3, 12, 12), 100, np.uint16)
    movie[2, 1:3, 1:3] = 4000
    write_h5(tmp_path / "movie.h5", movie)
    assert detect_spots_with_atlas.main(["-m", str(tmp_path / "movie.h5"), "-ap", str(atlas_folder),
                                         "-aa", "-rad 15 -pval 0.01 -arealim 3"]) == 0
    assert "Atlas found 1 spot(s)" in capsys.readouterr().out
    mask = read_h5(tmp_path / "detector_segmentation.h5")
    assert mask.sum() == 4 and mask[2, 1:3, 1:3].all()
    assert detect_spots_with_atlas.main(["-m", str(tmp_path / "movie.h5"), "-ap", str(tmp_path), "-o",
                                         str(tmp_path / "x.h5")]) == 2
    assert "no atlas program in this folder" in capsys.readouterr().err


def test_merge_rejects_mismatched_inputs(tmp_path, capsys):
    from exodeepfinder.cli.main import main as exodeepfinder_main
    from exodeepfinder.io.events import make_events

    write_h5(tmp_path / "detector_segmentation.h5", np.zeros((10, 20, 20), np.uint8))
    write_h5(tmp_path / "expert_segmentation.h5", np.zeros((10, 20, 24), np.int8))
    write_events(make_events([2], [5], [5]), tmp_path / "expert_annotation.xml")
    folder = [f"-ds={tmp_path / 'detector_segmentation.h5'}", f"-ea={tmp_path / 'expert_annotation.xml'}",
              f"-es={tmp_path / 'expert_segmentation.h5'}"]
    assert exodeepfinder_main(["merge_detector_expert"] + folder) == 2
    assert "differs from" in capsys.readouterr().err
    write_h5(tmp_path / "expert_segmentation.h5", np.zeros((10, 20, 20), np.int8), overwrite=True)
    write_events(make_events([12], [5], [5]), tmp_path / "expert_annotation.xml", overwrite=True)
    assert merge_detector_expert.main(folder) == 2
    assert "z=12, y=5, x=5 lies outside the movie" in capsys.readouterr().err
    assert not (tmp_path / "merged_segmentation.h5").exists() and not (tmp_path / "merged_annotation.xml").exists()

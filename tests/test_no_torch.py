"""Inference where PyTorch is not installed (the standalone "lite" app): OpenVINO runs the network.

Each test runs Python in a subprocess whose ``sitecustomize`` makes ``import torch`` fail as it
does where PyTorch is not installed (ModuleNotFoundError), and compares with this environment,
where PyTorch is installed.
"""

import json
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from exodeepfinder.events.evaluate import match_events
from exodeepfinder.io.events import read_events
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.simulation import simulate_movie

pytest.importorskip("openvino")

HIDE_TORCH = textwrap.dedent("""
    import sys

    class HideTorch:
        '''Make "import torch" fail as it does where PyTorch is not installed.'''

        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, HideTorch())
""")


@pytest.fixture(scope="module")
def without_torch(tmp_path_factory):
    """Environment variables for a subprocess in which PyTorch cannot be imported."""
    folder = tmp_path_factory.mktemp("without_torch")
    (folder / "sitecustomize.py").write_text(HIDE_TORCH)
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]),
                       EXODEEPFINDER_CACHE=str(folder / "cache"))
    return environment


@pytest.fixture(scope="module")
def with_torch(without_torch):
    return dict(os.environ, EXODEEPFINDER_CACHE=without_torch["EXODEEPFINDER_CACHE"])


def run_python(arguments, environment, cwd=None):
    return subprocess.run([sys.executable, *arguments], env=environment, cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_torch_is_really_hidden(without_torch, with_torch):
    hidden = run_python(["-c", "import torch"], without_torch)
    assert hidden.returncode == 1 and "ModuleNotFoundError: No module named 'torch'" in hidden.stderr
    assert run_python(["-c", "import torch"], with_torch).returncode == 0


@pytest.mark.slow  # the quick check stays under 10 minutes; CI runs it
def test_detect_command_without_torch_gives_the_same_events(tmp_path, without_torch, with_torch):
    simulation = simulate_movie((32, 96, 96), n_events=8, n_spots=8, seed=4)
    for name in ("without", "with"):
        (tmp_path / name).mkdir()
        write_h5(tmp_path / name / "movie.h5", simulation.movie)
    for name, environment in (("without", without_torch), ("with", with_torch)):
        # --precision fast: NNCF (int8) does not import under HideTorch (it probes torch with find_spec)
        done = run_python(["-m", "exodeepfinder", "detect", f"{name}/movie.h5", "-mw", "bundled",
                           "--backend", "openvino", "--precision", "fast"], environment, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    events_without = pd.read_csv(tmp_path / "without" / "movie_events.csv")
    events_with = pd.read_csv(tmp_path / "with" / "movie_events.csv")
    pd.testing.assert_frame_equal(events_without, events_with)
    summary = match_events(read_events(tmp_path / "without" / "movie_events.csv"), simulation.events).summary
    assert summary["f1"] >= 0.8, summary


def test_api_without_torch(tmp_path, without_torch):
    script = textwrap.dedent("""
        import json, sys
        import exodeepfinder as edf
        from exodeepfinder.model.arrays import UNetWeights

        model = edf.load_model()
        simulation = edf.simulate((24, 64, 64), n_events=6, n_spots=6, seed=7)
        detection = edf.detect(simulation.movie, model)          # backend auto: OpenVINO
        labels = edf.segment(simulation.movie, model, backend="openvino", precision="fp32")
        errors = {}
        for name, call in [("backend torch", lambda: edf.segment(simulation.movie, model, backend="torch")),
                           ("device cuda", lambda: edf.load_model(device="cuda")),
                           ("export", lambda: __import__("exodeepfinder.model.bioimageio", fromlist=["x"])
                                                  .export_bioimageio(sys.argv[1]))]:
            try:
                call()
            except edf.InputError as err:
                errors[name] = str(err)
        summary = edf.evaluate(detection.events, simulation.events).summary
        print(json.dumps({"model": type(model).__name__, "source": model.weights_source, "f1": summary["f1"],
                          "event_voxels": int((labels == 2).sum()), "errors": errors,
                          "torch_loaded": "torch" in sys.modules}))
    """)
    done = run_python(["-c", script, str(tmp_path / "model.zip")], without_torch)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["model"] == "UNetWeights" and result["source"] == "bundled default model"
    assert result["f1"] >= 0.8 and result["event_voxels"] > 100
    assert not result["torch_loaded"]
    assert set(result["errors"]) == {"backend torch", "device cuda", "export"}, result["errors"]
    for message in result["errors"].values():
        assert "needs PyTorch" in message and "\n" not in message
    assert not (tmp_path / "model.zip").exists()


@pytest.mark.parametrize("arguments", [["segment", "-m", "movie.h5", "--backend", "torch"],
                                       ["segment", "-m", "movie.h5", "--device", "cuda"],
                                       ["detect", "movie.h5", "--device", "cuda"]])
def test_torch_only_options_are_one_line_errors(tmp_path, without_torch, arguments):
    write_h5(tmp_path / "movie.h5", simulate_movie((8, 32, 32), n_events=1, n_spots=1, seed=1).movie)
    done = run_python(["-m", "exodeepfinder", *arguments], without_torch, cwd=tmp_path)
    assert done.returncode == 2
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("error: ") and "needs PyTorch" in error and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.h5"]  # no output left


def test_train_without_torch_is_a_one_line_error(tmp_path, without_torch):
    (tmp_path / "dataset" / "train").mkdir(parents=True)
    (tmp_path / "dataset" / "valid").mkdir(parents=True)
    done = run_python(["-m", "exodeepfinder", "train", "-d", "dataset", "-o", "out"], without_torch, cwd=tmp_path)
    assert done.returncode == 2
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("error: ") and "needs PyTorch" in error and "internal error" not in error

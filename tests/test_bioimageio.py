"""`exodeepfinder export-bioimageio`: the U-Net as a bioimage.io model package that bioimageio.core tests.

The package is written once (bundled default model) by the command and shared by the tests. No
test may use the network: `no_network` makes every socket connection fail and records it.
"""

from __future__ import annotations

import io
import socket
import zipfile
from pathlib import Path

import numpy as np
import pytest

from exodeepfinder.cli import export_bioimageio as cli
from exodeepfinder.errors import InputError
from exodeepfinder.model import bioimageio as export
from exodeepfinder.model import weights as weights_module


def _bioimageio_usable():
    pytest.importorskip("bioimageio.spec", reason="optional dependency: pip install 'exodeepfinder-torch[bioimageio]'")
    pytest.importorskip("bioimageio.core", reason="optional dependency: pip install 'exodeepfinder-torch[bioimageio]'")
    try:
        export.bioimageio_spec()
    except ImportError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def no_network():
    """Make every network connection fail, and list the addresses that were tried."""
    attempts = []
    connect = socket.socket.connect

    def refuse(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"network disabled in this test (tried {address})")
        return connect(self, address)

    socket.socket.connect = refuse
    try:
        yield attempts
    finally:
        socket.socket.connect = connect


@pytest.fixture(scope="module")
def package(tmp_path_factory, no_network):
    _bioimageio_usable()
    path = tmp_path_factory.mktemp("bioimageio") / "exodeepfinder.zip"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(weights_module.ENV_WEIGHTS, raising=False)
        patch.setenv(weights_module.ENV_CACHE, str(path.parent / "empty cache"))  # no official weights
        assert cli.main([str(path)]) == 0
    return path


def _read_zip(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _npy(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(data))


@pytest.mark.slow
def test_package_passes_bioimageio_test(package, no_network):
    from bioimageio.core import test_model

    summary = test_model(package)
    failed = [f"{d.name}: {[e.msg for e in d.errors]}" for d in summary.details if d.status == "failed"]
    assert summary.status == "passed", failed
    tested = {d.name for d in summary.details if d.status == "passed"}
    for weights_format in ("pytorch_state_dict", "torchscript"):
        assert f"Reproduce test outputs from test inputs ({weights_format})" in tested
    assert no_network == []


def test_test_output_is_the_model_output_and_finds_the_events(package):
    import torch

    from exodeepfinder.events import cluster_events, match_events
    from exodeepfinder.inference.normalize import normalize_frames

    files = _read_zip(package)
    test_input, test_output = _npy(files["test_input.npy"]), _npy(files["test_output.npy"])
    simulation = export.simulate_test_movie()
    assert test_input.shape == (1, 1) + export.TEST_SHAPE and test_input.dtype == np.float32
    np.testing.assert_array_equal(test_input[0, 0], simulation.movie)

    model = weights_module.load_model("bundled", "cpu")
    with torch.no_grad():
        ours = model(torch.from_numpy(normalize_frames(simulation.movie))[None, None]).numpy()
    assert test_output.shape == (1, 3) + export.TEST_SHAPE and test_output.dtype == np.float32
    np.testing.assert_allclose(test_output, ours, rtol=0, atol=1e-6)
    np.testing.assert_allclose(test_output.sum(axis=1), 1, atol=1e-5)  # softmax probabilities

    events = cluster_events(test_output[0].argmax(0), 5, min_size=10)
    summary = match_events(events, simulation.events, tolerance=5).summary
    assert summary["tp"] == len(simulation.events) == 3 and summary["fp"] == 0


def test_package_description(package):
    from ruyaml import YAML  # bioimageio.spec's YAML library

    files = _read_zip(package)
    rdf = YAML(typ="safe").load(files["rdf.yaml"].decode())
    assert rdf["type"] == "model" and rdf["format_version"].startswith("0.5")
    assert rdf["license"] == "GPL-3.0-or-later"
    assert rdf["cite"][0]["doi"] == "10.1371/journal.pcbi.1013556"
    (raw,), (probabilities,) = rdf["inputs"], rdf["outputs"]
    assert [a["type"] for a in raw["axes"]] == ["batch", "channel", "time", "space", "space"]
    sizes = {a["id"]: a["size"] for a in raw["axes"] if "size" in a}
    assert sizes["y"] == sizes["x"] == {"min": 16, "step": 4}
    assert raw["preprocessing"][1] == {"id": "scale_range", "kwargs": {
        "axes": ["y", "x"], "min_percentile": 1.0, "max_percentile": 99.0}}
    assert probabilities["axes"][1]["channel_names"] == ["background", "bright_spot", "event"]
    weights = rdf["weights"]
    assert set(weights) == {"pytorch_state_dict", "torchscript"}
    architecture = weights["pytorch_state_dict"]["architecture"]
    assert architecture["callable"] == "UNet" and architecture["source"] in files
    # the architecture file works alone: it is the package's UNet and imports only torch
    export.check_standalone(files[architecture["source"]].decode())
    readme = files[rdf["documentation"]["source"]].decode()
    assert "## Validation" in readme and "3 of the 3 simulated events" in readme
    cover = files[rdf["covers"][0]["source"]]
    assert cover[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(cover[16:20], "big"), int.from_bytes(cover[20:24], "big")
    assert width == 2 * height


def test_check_standalone_rejects_package_imports():
    export.check_standalone("from __future__ import annotations\nimport torch\nfrom torch import nn\n")
    for source in ("from .keras_weights import load_keras_weights\n", "import exodeepfinder\n",
                   "from numpy import zeros\n"):
        with pytest.raises(RuntimeError, match="may only import torch"):
            export.check_standalone(source)


def test_bad_weights_one_line_error_and_no_zip(tmp_path, capsys):
    bad = tmp_path / "weights.h5"
    bad.write_bytes(b"not an HDF5 file" * 10)
    output = tmp_path / "model.zip"
    assert cli.main([str(output), "-mw", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and str(bad) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.h5"]  # no zip, no temporary file


def test_existing_output_needs_overwrite(tmp_path, capsys):
    output = tmp_path / "model.zip"
    output.write_bytes(b"previous")
    assert cli.main([str(output), "-mw", "bundled"]) == 2
    assert "already exists (use --overwrite" in capsys.readouterr().err
    assert output.read_bytes() == b"previous"
    with pytest.raises(InputError, match="already exists"):
        export.export_bioimageio(output, "bundled")


def test_library_checks_its_arguments(tmp_path):
    with pytest.raises(InputError, match=r"\.zip"):
        export.export_bioimageio(tmp_path / "model.tar", "bundled")
    with pytest.raises(InputError, match="name"):
        export.export_bioimageio(tmp_path / "model.zip", "bundled", name="bad/name")
    with pytest.raises(InputError, match="authors"):
        export.export_bioimageio(tmp_path / "model.zip", "bundled", authors=[])
    assert not any(tmp_path.iterdir())


def test_cancel_leaves_nothing(tmp_path):
    import tempfile

    from exodeepfinder.errors import Cancelled

    _bioimageio_usable()
    scratch = set(Path(tempfile.gettempdir()).glob(".exodeepfinder_bioimageio.*"))
    steps = []

    def cancel_once_files_are_written(done, total):
        steps.append(done)
        return done < 3

    with pytest.raises(Cancelled):
        export.export_bioimageio(tmp_path / "model.zip", "bundled", progress=cancel_once_files_are_written)
    assert steps == [0, 1, 2, 3]
    assert not any(tmp_path.iterdir())
    assert set(Path(tempfile.gettempdir()).glob(".exodeepfinder_bioimageio.*")) == scratch

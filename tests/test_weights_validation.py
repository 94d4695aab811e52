"""Weights files are checked before they run: shapes before any value is read, finite values, no links to
other files, the cached official file re-hashed."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from exodeepfinder.cli import detect
from exodeepfinder.errors import InputError
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.model import download, weights
from exodeepfinder.model.arrays import UNetWeights
from exodeepfinder.model.keras_weights import read_unet_arrays, save_keras_weights
from exodeepfinder.model.weights import BUNDLED_WEIGHTS, load_model, resolve_weights
from exodeepfinder.simulation import simulate_movie


def bundled_with(path, change):
    arrays = [(w.copy(), b.copy()) for w, b in read_unet_arrays(BUNDLED_WEIGHTS)]
    change(arrays)
    return save_keras_weights(UNetWeights(arrays), path)


def test_nan_weights_are_a_one_line_error_not_an_empty_detection(tmp_path, capsys):
    path = bundled_with(tmp_path / "nan.h5", lambda arrays: arrays[4][0].__setitem__((0, 0, 1, 1, 1), np.nan))
    with pytest.raises(InputError, match=r"nan.h5: convolution 5 has 1 NaN or infinite weight\(s\)"):
        load_model(path, device="cpu")
    write_h5(tmp_path / "movie.h5", simulate_movie((8, 32, 32), n_events=1, n_spots=2, seed=3).movie)
    assert detect.main([str(tmp_path / "movie.h5"), "-mw", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "NaN or infinite" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.h5", "nan.h5"]


def test_shapes_are_checked_before_any_value_is_read(tmp_path, monkeypatch):
    """A layer of a huge (compressed, nearly empty) kernel is refused from its shape; nothing is read."""
    path = tmp_path / "bomb.h5"
    shutil.copyfile(BUNDLED_WEIGHTS, path)
    with h5py.File(path, "a") as handle:
        layer = handle["model_weights/conv3d_1/conv3d_1"]
        del layer["kernel:0"]
        layer.create_dataset("kernel:0", shape=(3, 3, 3, 1, 2 ** 28), dtype="f4", chunks=(3, 3, 3, 1, 2 ** 16),
                             compression="gzip")
    reads = []
    original = h5py.Dataset.__getitem__
    monkeypatch.setattr(h5py.Dataset, "__getitem__", lambda self, key: reads.append(self.name) or original(self, key))
    with pytest.raises(InputError, match=r"convolution 1 has kernel shape \(3, 3, 3, 1, 268435456\), expected"):
        read_unet_arrays(path)
    assert reads == []


def test_links_to_other_files_are_refused(tmp_path):
    outside = tmp_path / "outside.h5"
    with h5py.File(outside, "w") as handle:
        handle["secret"] = np.zeros(3)
    path = tmp_path / "linked.h5"
    shutil.copyfile(BUNDLED_WEIGHTS, path)
    with h5py.File(path, "a") as handle:
        layer = handle["model_weights/conv3d_1/conv3d_1"]
        del layer["bias:0"]
        layer["bias:0"] = h5py.ExternalLink(str(outside), "/secret")
    with pytest.raises(InputError, match="external link to .*outside.h5:/secret; weights files must be self-contained"):
        read_unet_arrays(path)
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.zeros(32, "f4").tobytes())
    path = tmp_path / "external.h5"
    shutil.copyfile(BUNDLED_WEIGHTS, path)
    with h5py.File(path, "a") as handle:
        layer = handle["model_weights/conv3d_1/conv3d_1"]
        del layer["bias:0"]
        layer.create_dataset("bias:0", shape=(32,), dtype="f4", external=[(str(raw), 0, 128)])
    with pytest.raises(InputError, match="keeps its values in another file"):
        read_unet_arrays(path)


def test_the_cached_official_weights_are_re_hashed_when_loaded(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv(weights.ENV_CACHE, str(cache))
    monkeypatch.delenv(weights.ENV_WEIGHTS, raising=False)
    source = bundled_with(tmp_path / "source.h5", lambda arrays: None)
    sha = download.sha256sum(source)
    path, _ = download.download_weights(source.as_uri(), sha256=sha)
    assert weights.checksum_path(path).read_text() == f"{sha}  net_weights_FINAL.h5\n"
    assert resolve_weights("official")[0] == path == resolve_weights()[0]
    # damaged after the download (same size, one byte changed)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    for name in ("official", None):
        with pytest.raises(InputError, match="the cached weights are damaged or were replaced"):
            resolve_weights(name)
    # a file put there by hand (no record) must be the official file
    weights.checksum_path(path).unlink()
    shutil.copyfile(source, path)
    with pytest.raises(InputError, match="run 'exodeepfinder download-weights' again"):
        resolve_weights("official")

"""Weights: resolution order and `exodeepfinder download-weights` from local file URLs (no network)."""

from __future__ import annotations

import hashlib
import shutil
import pytest

from exodeepfinder.cli import download_weights as cli_download
from exodeepfinder.errors import InputError
from exodeepfinder.model import download, weights


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(weights.ENV_CACHE, str(folder))
    monkeypatch.delenv(weights.ENV_WEIGHTS, raising=False)
    return folder


@pytest.fixture
def fake_weights(tmp_path):
    path = tmp_path / "source dir" / "weights.h5"
    path.parent.mkdir()
    path.write_bytes(b"not really weights, but bytes with a known checksum" * 100)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_from_file_url_good_checksum(cache, fake_weights):
    source, sha = fake_weights
    path, action = download.download_weights(source.as_uri(), sha256=sha)
    assert path == cache / "net_weights_FINAL.h5" == weights.official_weights_path()
    assert action == "downloaded"
    assert path.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == ["net_weights_FINAL.h5", "net_weights_FINAL.h5.sha256"]  # no temporary left
    # a second call finds it and does not copy again
    assert download.download_weights(source.as_uri(), sha256=sha)[1] == "already present"
    # the resolution order now finds the cached file before the bundled default
    assert weights.resolve_weights()[0] == path


def test_download_bad_checksum_leaves_nothing(cache, fake_weights):
    source, sha = fake_weights
    with pytest.raises(InputError, match="sha256 mismatch") as err:
        download.download_weights(source.as_uri(), sha256="0" * 64)
    assert "\n" not in str(err.value)
    assert sha in str(err.value)  # tells what it got
    assert not cache.exists() or not any(cache.iterdir())


def test_download_replaces_corrupt_cached_copy(cache, fake_weights):
    source, sha = fake_weights
    cache.mkdir()
    (cache / "net_weights_FINAL.h5").write_bytes(b"truncated")
    path, action = download.download_weights(source.as_uri(), sha256=sha)
    assert action == "replaced" and path.read_bytes() == source.read_bytes()


def test_bad_checksum_keeps_previous_good_file(cache, fake_weights, tmp_path):
    source, sha = fake_weights
    download.download_weights(source.as_uri(), sha256=sha)
    other = tmp_path / "other.h5"
    other.write_bytes(b"something else")
    # the good cached copy is "already present" for its own checksum; a different expected
    # checksum triggers a download that fails and must not touch it
    with pytest.raises(InputError):
        download.download_weights(other.as_uri(), sha256="1" * 64)
    assert (cache / "net_weights_FINAL.h5").read_bytes() == source.read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == ["net_weights_FINAL.h5", "net_weights_FINAL.h5.sha256"]


def test_missing_local_file(cache, tmp_path):
    with pytest.raises(InputError, match="file not found"):
        download.download_weights((tmp_path / "nope.h5").as_uri(), sha256="0" * 64)
    assert not cache.exists()


def test_cli_good_checksum(cache, fake_weights, monkeypatch, capsys):
    source, sha = fake_weights
    monkeypatch.setattr(download, "OFFICIAL_SHA256", sha)
    assert cli_download.main(["--url", source.as_uri()]) == 0
    out = capsys.readouterr().out
    assert "downloaded" in out and "sha256 verified" in out
    assert (cache / "net_weights_FINAL.h5").read_bytes() == source.read_bytes()


def test_cli_bad_checksum(cache, fake_weights, capsys):
    source, _ = fake_weights
    assert cli_download.main(["--url", source.as_uri()]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "sha256 mismatch" in err and len(err.strip().splitlines()) == 1
    assert not cache.exists() or not any(cache.iterdir())


def test_cli_official_file_from_local_url(cache, tmp_path, official_weights, capsys):
    copy = tmp_path / "mirror" / "net_weights_FINAL.h5"
    copy.parent.mkdir()
    shutil.copyfile(official_weights, copy)
    assert cli_download.main(["--url", copy.as_uri()]) == 0
    assert download.sha256sum(cache / "net_weights_FINAL.h5") == download.OFFICIAL_SHA256
    assert "downloaded" in capsys.readouterr().out
    assert cli_download.main(["--url", copy.as_uri()]) == 0
    assert "already present" in capsys.readouterr().out


def test_resolution_order(cache, tmp_path, monkeypatch):
    explicit = tmp_path / "explicit.h5"
    explicit.write_bytes(b"x")
    from_env = tmp_path / "env.h5"
    from_env.write_bytes(b"y")
    bundled = tmp_path / "bundled.h5"
    bundled.write_bytes(b"z")
    monkeypatch.setattr(weights, "BUNDLED_WEIGHTS", bundled)
    assert weights.resolve_weights() == (bundled, "bundled default model")
    cache.mkdir()
    (cache / "net_weights_FINAL.h5").write_bytes(b"w")
    # as download-weights records it (each load re-hashes the cached file)
    weights.checksum_path(cache / "net_weights_FINAL.h5").write_text(hashlib.sha256(b"w").hexdigest())
    assert weights.resolve_weights()[0] == cache / "net_weights_FINAL.h5"
    monkeypatch.setenv(weights.ENV_WEIGHTS, str(from_env))
    assert weights.resolve_weights() == (from_env, weights.ENV_WEIGHTS)
    assert weights.resolve_weights(explicit) == (explicit, "given file")
    with pytest.raises(InputError, match="not found"):
        weights.resolve_weights(tmp_path / "missing.h5")
    monkeypatch.setenv(weights.ENV_WEIGHTS, str(tmp_path / "gone.h5"))
    with pytest.raises(InputError, match=weights.ENV_WEIGHTS):
        weights.resolve_weights()


def test_no_weights_at_all_says_how_to_get_them(cache, tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "BUNDLED_WEIGHTS", tmp_path / "absent.h5")
    with pytest.raises(InputError, match="download-weights"):
        weights.resolve_weights()

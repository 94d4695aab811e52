"""The fault soak test (bench/soak.py), short: each fault once on a few movies, and the batch finished by a rerun."""

from __future__ import annotations

import pytest
from _scripts import load_script

pytest.importorskip("distributed")
pytest.importorskip("psutil")


def load_soak():
    return load_script("bench/soak.py")


@pytest.mark.slow
def test_every_fault_leaves_nothing_wrong_and_a_rerun_finishes(tmp_path):
    soak = load_soak()
    plans = [{"worker": 1, "client": False, "enospc": 0.5, "corrupt": True, "readonly": True},
             {"worker": 0, "client": True, "enospc": 0, "corrupt": False, "readonly": False}]
    summary = soak.soak(tmp_path, movies=4, rounds=2, seed=5, timeout=300, plans=plans)
    assert summary["broken"] == []
    faults = summary["faults"]
    # the patched ENOSPC and read-only folder hit every run; kills and the corruption come at a random
    # moment, which a batch of 4 small movies may finish before (bench/soak.py runs them at scale)
    assert faults["readonly"] >= 1 and faults["enospc"] >= 1
    assert faults["corrupt"] <= 1
    assert all(result["rerun_exit"] == 0 for result in summary["results"])
    assert (tmp_path / "soak.md").read_text().startswith("2 rounds on 4 movies (local:2)")


def test_the_fault_hooks_fail_what_they_should(tmp_path):
    """The injected faults (a patched fsync, a read-only folder) reach the code as real OS errors would."""
    import subprocess
    import sys

    soak = load_soak()
    code = ("import os, errno\n"
            "try:\n    os.fsync(os.open(__file__ if False else '/dev/null', os.O_RDONLY))\n"
            "except OSError as err:\n    print('fsync', errno.errorcode[err.errno])\n"
            "try:\n    os.mkdir(os.path.join(os.environ['EDF_SOAK_READONLY'], 'x'))\n"
            "except OSError as err:\n    print('mkdir', errno.errorcode[err.errno])\n")
    env = soak.environment(1, EDF_SOAK_ENOSPC=1.0, EDF_SOAK_READONLY=tmp_path, EDF_SOAK_LOG=tmp_path / "log")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout
    assert out.split() == ["fsync", "ENOSPC", "mkdir", "EROFS"]
    assert [line.split()[0] for line in (tmp_path / "log").read_text().splitlines()] == ["enospc", "readonly"]


def test_reset_rounds_put_folders_back_to_their_movie_alone(tmp_path):
    """``--reset k``: k folders of the complete batch are put back as they were before any run."""
    import random

    soak = load_soak()
    pristine, batch = tmp_path / "pristine", tmp_path / "batch"
    for i in range(5):
        (pristine / f"cell{i}").mkdir(parents=True)
        (pristine / f"cell{i}" / "movie.h5").write_bytes(bytes([i]) * 10)
        (batch / f"cell{i}").mkdir(parents=True)
        (batch / f"cell{i}" / "movie.h5").write_bytes(bytes([i]) * 10)
        (batch / f"cell{i}" / "movie_events.csv").write_text("t,y,x\n")
        (batch / f"cell{i}" / ".movie_events.csv.exodeepfinder-done.json").write_text("{}")
    reset = soak._reset_folders(batch, pristine, random.Random(0), 2)
    assert len(reset) == 2
    for i in range(5):
        names = sorted(p.name for p in (batch / f"cell{i}").iterdir())
        assert names == (["movie.h5"] if f"cell{i}" in reset else
                         [".movie_events.csv.exodeepfinder-done.json", "movie.h5", "movie_events.csv"])
    plan = soak._normal({"worker": 1, "client": False, "enospc": 0.5, "corrupt": True, "readonly": False})
    assert plan == {"worker": 1, "client": False, "enospc": 0.5, "corrupt": 1, "readonly": 0}


@pytest.mark.slow
def test_the_faults_through_a_tls_scheduler_on_loopback(tmp_path):
    """The same driver and invariants through ``--cluster tls://127.0.0.1:PORT`` (a scheduler and 2 workers it starts)."""
    pytest.importorskip("cryptography")
    import json

    soak = load_soak()
    plans = [{"worker": 1, "client": False, "enospc": 0.5, "corrupt": True, "readonly": True},
             {"worker": 0, "client": True, "enospc": 0.2, "corrupt": False, "readonly": False}]
    summary = soak.soak(tmp_path, movies=3, rounds=2, seed=5, timeout=300, plans=plans, cluster="tls",
                        shape=(8, 24, 24))
    assert summary["broken"] == []
    assert summary["cluster"] == "tls" and summary["faults"]["enospc"] >= 1
    assert all(result["rerun_exit"] == 0 for result in summary["results"])
    address = json.loads((tmp_path / "work" / "tls" / "scheduler.json").read_text())["address"]
    assert address.startswith("tls://127.0.0.1:")
    # the workers were reached through TLS only, and are gone with the soak
    assert "tls://127.0.0.1" in (tmp_path / "work" / "tls" / "workers.log").read_text()
    import psutil

    left = []
    for process in psutil.process_iter(["cmdline"]):
        if str(tmp_path) in " ".join(process.info["cmdline"] or []):
            left.append(process.pid)
    assert left == []
    assert (tmp_path / "soak.md").read_text().startswith("2 rounds on 3 movies (tls)")

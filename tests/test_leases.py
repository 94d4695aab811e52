"""Partial outputs on a shared drive: another machine's live writer is never reaped; abandoned ones are, by lease;
``exodeepfinder clean`` removes what killed runs left."""

from __future__ import annotations

import json
import logging
import os
import time

from exodeepfinder.io import leases
from exodeepfinder.io.atomic import PARTIAL_SUFFIX, atomic_output, remove_stale_partials


def partial(folder, name, pid, owner=None, age=0.0):
    path = folder / f".{name}.{pid}-00{pid % 97:02x}{PARTIAL_SUFFIX}"
    path.mkdir()
    (path / name).write_text("half")
    if owner is not None:
        (path / ".owner.exodeepfinder").write_text(json.dumps(owner))
    if age:
        then = time.time() - age
        for item in (path / ".owner.exodeepfinder", path):
            if item.exists():
                os.utime(item, (then, then))
    return path


def test_another_machines_partial_is_kept_while_its_lease_runs(tmp_path, caplog):
    dead_here = 2 ** 22 + 12345  # no such process on this machine: it runs on the other one
    live = partial(tmp_path, "movie.h5", dead_here, {"pid": dead_here, "host": "node-b"}, age=120)
    unowned = partial(tmp_path, "movie.h5", dead_here + 1, None, age=60)
    assert remove_stale_partials(tmp_path / "movie.h5") == []
    assert live.exists() and unowned.exists()
    old = partial(tmp_path, "movie.h5", dead_here + 2, {"pid": dead_here + 2, "host": "node-c"},
                  age=leases.LEASE_SECONDS + 60)
    old_unowned = partial(tmp_path, "movie.h5", dead_here + 3, None, age=leases.LEASE_SECONDS + 60)
    with caplog.at_level(logging.WARNING, logger="exodeepfinder"):
        assert sorted(remove_stale_partials(tmp_path / "movie.h5")) == sorted([old, old_unowned])
    assert "its lease expired: untouched for 16 min (process" in caplog.text and "on node-c" in caplog.text
    assert live.exists() and unowned.exists()


def test_a_writer_renews_its_lease(tmp_path, monkeypatch):
    monkeypatch.setattr(leases, "RENEW_SECONDS", 0.05)
    monkeypatch.setattr(leases, "_RENEWER", None)
    with atomic_output(tmp_path / "movie.h5") as tmp:
        record = tmp.parent / ".owner.exodeepfinder"
        then = time.time() - 3600
        os.utime(record, (then, then))
        deadline = time.time() + 5
        while record.stat().st_mtime < time.time() - 60 and time.time() < deadline:
            time.sleep(0.05)
        assert record.stat().st_mtime > time.time() - 60
        assert json.loads(record.read_text())["lease_seconds"] == leases.LEASE_SECONDS
        tmp.write_text("done")
    assert not leases._HELD


def test_clean_removes_what_killed_runs_left_and_keeps_what_is_in_use(tmp_path, capsys):
    import socket
    import subprocess
    import sys

    from exodeepfinder.cli import clean

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    cell = tmp_path / "cell1"
    cell.mkdir()
    (cell / "movie.h5").write_text("the user's movie")
    killed = partial(cell, "movie_events.csv", int(dead), {"pid": int(dead), "host": socket.gethostname()})
    in_use = partial(cell, "movie_segmentation.h5", os.getpid(), {"pid": os.getpid(), "host": socket.gethostname()})
    remote = partial(cell, "movie_events.png", 2 ** 22 + 7, {"pid": 2 ** 22 + 7, "host": "node-b"})
    old_cache = tmp_path / "run" / ".edf_train_cache_x1y2"
    old_cache.mkdir(parents=True)
    then = time.time() - leases.LEASE_SECONDS - 60
    os.utime(old_cache, (then, then))
    work = leases.make_work_folder(tmp_path / "run", "edf_train_cache")  # a live training's cache
    assert clean.main([str(tmp_path), "--dry_run"]) == 0
    assert "would remove" in capsys.readouterr().out and killed.exists()
    assert clean.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"removed {killed} (process {dead} no longer runs)" in out
    assert f"removed {old_cache} (its lease expired" in out
    assert f"kept {in_use} (in use)" in out and f"kept {remote} (in use)" in out and f"kept {work} (in use)" in out
    assert "2 folder(s) removed, 3 in use" in out
    assert not killed.exists() and not old_cache.exists() and in_use.exists() and remote.exists() and work.exists()
    assert (cell / "movie.h5").read_text() == "the user's movie"
    leases.remove_work_folder(work)
    assert clean.main([str(tmp_path / "missing")]) == 2


def test_clean_temporary_sweeps_the_temporary_folders_killed_runs_left(tmp_path, monkeypatch, capsys):
    """``clean --temporary``: the detector's TIFF copy (``edf_detector_*``, a TemporaryDirectory that a
    SIGKILL leaves behind) is removed once untouched for a lease; a fresh one and others' folders stay."""
    import tempfile

    from exodeepfinder.cli import clean

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    killed = scratch / "edf_detector_k1ll3d"
    (killed / "frames").mkdir(parents=True)
    (killed / "frames" / "f_001.tif").write_bytes(b"a copy of the movie")
    then = time.time() - leases.LEASE_SECONDS - 60
    os.utime(killed, (then, then))
    running = scratch / "edf_atlas_running"
    running.mkdir()
    foreign = scratch / "someone_elses"
    foreign.mkdir()
    os.utime(foreign, (then, then))
    experiment = tmp_path / "exp"
    experiment.mkdir()
    assert clean.main([str(experiment)]) == 0  # without --temporary the temporary folder is not looked at
    assert killed.exists()
    capsys.readouterr()
    assert clean.main([str(experiment), "--temporary"]) == 0
    out = capsys.readouterr().out
    assert f"removed {killed} (its lease expired" in out and f"kept {running} (in use)" in out
    assert not killed.exists() and running.exists() and foreign.exists()


def test_a_work_folder_in_use_is_kept_however_long_it_runs(tmp_path, monkeypatch, capsys):
    """The external detector's TIFF copy is a leased work folder: ``clean --temporary`` keeps it while its
    process runs, even untouched for longer than a lease (a TemporaryDirectory was removed after 15 min)."""
    import tempfile

    from exodeepfinder.cli import clean

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    experiment = tmp_path / "exp"
    experiment.mkdir()
    then = time.time() - 4 * leases.LEASE_SECONDS
    with leases.work_folder(tempfile.gettempdir(), "edf_detector") as work:
        (work / "frames").mkdir()
        for path in (work, *work.iterdir()):
            os.utime(path, (then, then))
        assert clean.main([str(experiment), "--temporary"]) == 0
        assert f"kept {work} (in use)" in capsys.readouterr().out
        assert (work / "frames").is_dir()
    assert not work.exists()

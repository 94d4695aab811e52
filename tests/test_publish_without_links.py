"""Where hard links are unavailable (FAT, some network drives), publishing never leaves an empty output."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from exodeepfinder.io import atomic
from exodeepfinder.io.atomic import atomic_output


@pytest.fixture(params=["renameat2", "claim"])
def no_hard_links(request, monkeypatch):
    """os.link fails as on FAT; the second case also lacks renameat2 (the claim folder is used)."""
    def link(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", link)
    if request.param == "claim":
        monkeypatch.setattr(atomic, "_renameat2_no_replace", lambda source, target: False)
    return request.param


def test_the_output_name_never_holds_an_empty_file(tmp_path, monkeypatch, no_hard_links):
    target = tmp_path / "movie_events.csv"
    seen = []
    for name in ("replace", "rename"):
        real = getattr(os, name)

        def spy(source, destination, *args, _real=real, **kwargs):
            if os.fspath(destination) == os.fspath(target):
                seen.append(os.path.lexists(target))
            return _real(source, destination, *args, **kwargs)

        monkeypatch.setattr(os, name, spy)
    with atomic_output(target, overwrite=False) as tmp:
        tmp.write_text("t,y,x\n1,2,3\n")
    assert target.read_text() == "t,y,x\n1,2,3\n"
    assert seen == ([] if no_hard_links == "renameat2" else [False])  # nothing there before the rename
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie_events.csv"]
    with pytest.raises(FileExistsError):
        with atomic_output(target, overwrite=False) as tmp:
            tmp.write_text("other")
    assert target.read_text() == "t,y,x\n1,2,3\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie_events.csv"]


KILLED_WHILE_PUBLISHING = """
import errno, os, sys
from exodeepfinder.io import atomic
def link(*args, **kwargs):
    raise OSError(errno.EPERM, "Operation not permitted")
os.link = link
atomic._renameat2_no_replace = lambda source, target: False
os.rename = lambda source, target: os._exit(9)   # SIGKILL at the worst moment
with atomic.atomic_output(sys.argv[1], overwrite=False) as tmp:
    open(tmp, "w").write("complete")
"""


def test_a_kill_while_publishing_leaves_no_output_and_the_next_run_publishes(tmp_path, caplog):
    target = tmp_path / "movie.h5"
    code = subprocess.run([sys.executable, "-c", KILLED_WHILE_PUBLISHING, str(target)],
                          env=dict(os.environ, PYTHONPATH=os.getcwd())).returncode
    assert code == 9
    assert not target.exists()  # before: an empty file, taken as a finished output by a --batch rerun
    assert (tmp_path / ".movie.h5.exodeepfinder-claim").is_dir()
    with atomic_output(target, overwrite=False) as tmp:
        tmp.write_text("complete")
    assert target.read_text() == "complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.h5"]
    assert "removed .movie.h5.exodeepfinder-claim, left by an interrupted run" in caplog.text

"""Outputs written atomically: partial folders, publishing in one step, groups all or nothing, stale partials."""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import subprocess
import sys

import pytest

from exodeepfinder.errors import InputError, error_message
from exodeepfinder.io import atomic
from exodeepfinder.io.atomic import PARTIAL_SUFFIX, atomic_output, atomic_outputs, final_path_of


def partials(folder):
    return sorted(p.name for p in folder.rglob(f"*{PARTIAL_SUFFIX}"))


def test_group_appears_together_under_partial_names_until_done(tmp_path):
    outputs = {"table": tmp_path / "a.csv", "picture": tmp_path / "sub" / "b.png"}
    with atomic_outputs(outputs) as temporary:
        assert set(temporary) == {"table", "picture"}
        for name, path in temporary.items():
            assert path.name == outputs[name].name  # same name, so libraries pick the same format
            assert path.parent.name.startswith(f".{path.name}.{os.getpid()}-")
            assert path.parent.name.endswith(PARTIAL_SUFFIX)
            path.write_text(name)
        assert not outputs["table"].exists() and not outputs["picture"].exists()
    assert outputs["table"].read_text() == "table" and outputs["picture"].read_text() == "picture"
    assert partials(tmp_path) == []


@pytest.mark.parametrize("failure", [RuntimeError("network failed"), KeyboardInterrupt()])
def test_error_or_ctrl_c_leaves_nothing(tmp_path, failure):
    with pytest.raises(type(failure)):
        with atomic_outputs([tmp_path / "a.h5", tmp_path / "new" / "deeper" / "b.h5"]) as (a, b):
            a.write_text("half")
            raise failure
    assert list(tmp_path.iterdir()) == []  # the folders made for the outputs are gone too


def test_existing_file_is_never_replaced_and_nothing_else_appears(tmp_path):
    (tmp_path / "b.csv").write_text("user")
    with pytest.raises(FileExistsError) as err:
        with atomic_outputs([tmp_path / "a.csv", tmp_path / "b.csv"]) as (a, b):
            a.write_text("new a")
            b.write_text("new b")
    assert err.value.filename == str(tmp_path / "b.csv")
    assert error_message(err.value) == f"{tmp_path / 'b.csv'}: already exists"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.csv"]  # a.csv was taken back
    assert (tmp_path / "b.csv").read_text() == "user"


def test_file_created_meanwhile_by_another_run_is_kept(tmp_path):
    """The existence check and the publishing are one step: no check-then-rename window."""
    target = tmp_path / "movie.h5"
    with pytest.raises(FileExistsError):
        with atomic_output(target, overwrite=False) as tmp:
            tmp.write_text("ours")
            target.write_text("theirs, finished first")
    assert target.read_text() == "theirs, finished first"
    assert partials(tmp_path) == []


def test_overwrite_restores_replaced_files_when_the_group_fails(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("old a")
    with pytest.raises(OSError) as err:
        with atomic_outputs([first, second], overwrite=True) as (a, b):
            a.write_text("new a")
            b.write_text("new b")
            second.mkdir()  # a folder appears where b goes: its publishing fails
    assert err.value.errno == errno.EISDIR
    assert first.read_text() == "old a"
    assert partials(tmp_path) == []


def test_overwrite_replaces(tmp_path):
    target = tmp_path / "a.csv"
    target.write_text("old")
    with atomic_output(target, overwrite=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and partials(tmp_path) == []


def test_complete_file_is_flushed_before_it_is_published(tmp_path, monkeypatch):
    events = []
    real_fsync, real_link = os.fsync, os.link

    def fsync(fd):
        events.append(("fsync", os.fstat(fd).st_ino))
        return real_fsync(fd)

    def link(source, destination, **options):
        events.append(("link", os.lstat(source).st_ino))
        return real_link(source, destination, **options)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "link", link)
    with atomic_output(tmp_path / "a.h5", overwrite=False) as tmp:
        tmp.write_text("data")
    written = os.stat(tmp_path / "a.h5").st_ino
    assert events.index(("fsync", written)) < events.index(("link", written))


def test_writes_inside_a_partial_folder_are_published_with_it(tmp_path):
    with atomic_output(tmp_path / "seg.h5", overwrite=False) as outer:
        with atomic_output(outer, overwrite=True) as inner:  # a library writer given the temporary path
            assert inner == outer
            inner.write_text("labels")
    assert (tmp_path / "seg.h5").read_text() == "labels" and partials(tmp_path) == []


def test_symbolic_links_are_published_as_links(tmp_path):
    source = tmp_path / "movie.h5"
    source.write_text("movie")
    with atomic_outputs([tmp_path / "set" / "m.h5"]) as (link,):
        link.symlink_to(source)
    assert (tmp_path / "set" / "m.h5").is_symlink() and (tmp_path / "set" / "m.h5").read_text() == "movie"


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_partials_of_dead_runs_are_removed_and_reported(tmp_path, caplog):
    target = tmp_path / "movie.h5"
    dead = tmp_path / f".movie.h5.{_dead_pid()}-00ff{PARTIAL_SUFFIX}"
    dead.mkdir()
    (dead / "movie.h5").write_text("half-written by a killed run")
    # every writer records its owner first (a partial without one is judged by its lease: see test_leases)
    (dead / ".owner.exodeepfinder").write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()}))
    alive = tmp_path / f".movie.h5.{os.getppid()}-00aa{PARTIAL_SUFFIX}"  # a running process: not ours to remove
    alive.mkdir()
    other = tmp_path / f".other.h5.{_dead_pid()}-00bb{PARTIAL_SUFFIX}"  # another output: not this run's business
    other.mkdir()
    with caplog.at_level(logging.WARNING, logger="exodeepfinder"):
        with atomic_output(target, overwrite=False) as tmp:
            tmp.write_text("complete")
    assert target.read_text() == "complete"
    assert not dead.exists() and alive.exists() and other.exists()
    assert f"removed {dead.name}, left by an interrupted run" in caplog.text


def test_write_errors_name_the_output_not_the_temporary(tmp_path):
    target = tmp_path / "out" / "movie.h5"
    with pytest.raises(OSError) as err:
        with atomic_output(target) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert error_message(err.value) == f"{target}: no space left on the disk"
    assert final_path_of(tmp) == target
    assert not (tmp_path / "out").exists()


def test_folder_problems_are_found_before_writing(tmp_path):
    (tmp_path / "movie.h5").write_text("a file")
    with pytest.raises(InputError, match=r"movie\.h5 is a file, not a folder"):
        with atomic_output(tmp_path / "movie.h5" / "labels.h5"):
            pytest.fail("must not get here")
    (tmp_path / "folder.h5").mkdir()
    with pytest.raises(InputError, match=r"folder\.h5: is a folder"):
        with atomic_output(tmp_path / "folder.h5"):
            pytest.fail("must not get here")
    with pytest.raises(InputError, match="given for two outputs"):
        with atomic_outputs([tmp_path / "x.csv", tmp_path / "." / "x.csv"]):
            pytest.fail("must not get here")


@pytest.mark.parametrize("err, expected", [
    (OSError(errno.EACCES, "Permission denied", "/data/out.h5"), "/data/out.h5: permission denied"),
    (OSError(errno.EROFS, "Read-only file system", "/data/out.h5"), "/data/out.h5: read-only file system"),
    (OSError("Can't synchronously write data (file write failed: filename = '/data/x.h5', errno = 28, "
             "error message = 'No space left on device')"), "/data/x.h5: no space left on the disk"),
    (MemoryError(), "not enough memory"),
    (KeyError("model_weights"), "internal error: KeyError: 'model_weights'"),
])
def test_error_messages_are_one_line(err, expected):
    assert error_message(err) == expected


def test_is_partial_and_final_path():
    name = f".seg.h5.123-abcd{PARTIAL_SUFFIX}"
    assert atomic.is_partial(name) and not atomic.is_partial("seg.h5")
    assert str(final_path_of(f"cell/{name}/seg.h5")) == os.path.join("cell", "seg.h5")


def test_an_interruption_swallowed_by_a_finalizer_still_stops_the_work(tmp_path):
    """A signal handler can run inside a finalizer, where Python prints and ignores exceptions
    (the interruption was lost, a converted movie published in the full suite): it is raised again."""
    import weakref

    from exodeepfinder.progress import clear_pending_interrupt, interrupt, report

    class Resource:
        pass

    try:
        with pytest.raises(KeyboardInterrupt):
            with atomic_output(tmp_path / "out.txt") as temporary:
                temporary.write_text("half")
                resource = Resource()
                weakref.finalize(resource, interrupt, KeyboardInterrupt())
                del resource  # the finalizer runs here: its KeyboardInterrupt is printed and ignored
        assert list(tmp_path.iterdir()) == []
        with pytest.raises(KeyboardInterrupt):  # and at the next progress report
            report(None, 1, 2)
    finally:
        clear_pending_interrupt()
    report(None, 2, 2)


KILLED_WHILE_PUBLISHING = """
import os, shutil, signal, sys
from exodeepfinder.io.atomic import atomic_outputs

real_link, linked = os.link, []
if sys.argv[1] == "0":  # SIGKILL once the group is published, as its partial folders are removed
    shutil.rmtree = lambda *args, **kwargs: os.kill(os.getpid(), signal.SIGKILL)


def link(*args, **kwargs):  # SIGKILL after the first outputs of the group are published
    real_link(*args, **kwargs)
    linked.append(args[1])
    if len(linked) == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)


os.link = link
with atomic_outputs(sys.argv[2:]) as paths:
    for path in paths:
        with open(path, "w") as handle:
            handle.write("the killed run's " + os.path.basename(path))
"""


def publish_and_get_killed(paths, after: int):
    """Publish ``paths`` as one group in another process, SIGKILLed once ``after`` of them are published
    (0: once all are, while it removes its partial folders)."""
    import signal

    done = subprocess.run([sys.executable, "-c", KILLED_WHILE_PUBLISHING, str(after), *map(str, paths)],
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)), capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr


def test_a_group_killed_while_publishing_is_taken_back_by_the_next_write(tmp_path, caplog):
    """A SIGKILL between two links of a group left some outputs published and the others not (the group's
    all-or-nothing broken, and the folder 'incomplete' for a --batch rerun); the next write takes them back."""
    paths = [tmp_path / "seg.h5", tmp_path / "events.csv", tmp_path / "events.xml"]
    publish_and_get_killed(paths, after=2)
    assert [p.exists() for p in paths] == [True, True, False]
    with caplog.at_level(logging.WARNING, logger="exodeepfinder"):
        with atomic_outputs(paths) as temporary:  # without --overwrite: the killed run's files are not in the way
            for path in temporary:
                path.write_text("complete")
    assert [p.read_text() for p in paths] == ["complete"] * 3
    assert partials(tmp_path) == []
    assert f"{paths[0]}: removed, published without the rest of its outputs (events.csv, events.xml) by an " \
           "interrupted run (process" in caplog.text
    # a group killed once all is published (while removing its partial folders) is complete: kept
    others = [tmp_path / "b" / "seg.h5", tmp_path / "b" / "events.csv"]
    others[0].parent.mkdir()
    publish_and_get_killed(others, after=0)
    assert partials(others[0].parent)  # left by the kill
    from exodeepfinder.io.leftovers import remove_stale_partials

    for path in others:
        remove_stale_partials(path)
        assert path.read_text() == f"the killed run's {path.name}"

"""What reaches a command's stderr: one-line errors and warnings, never a traceback without --debug,
including Python's reports of exceptions that nothing could catch (a finalizer's, a thread's)."""

from __future__ import annotations

import threading

from exodeepfinder.cli import detect_spots


class RaisesWhenCollected:
    def __del__(self):
        raise RuntimeError("a finalizer failed")


def noisy_run(args):
    RaisesWhenCollected()  # collected at once: Python reports the exception ("Exception ignored in ...")
    thread = threading.Thread(target=lambda: 1 / 0, name="helper")
    thread.start()
    thread.join()


def test_uncatchable_exceptions_are_one_line_warnings(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(detect_spots, "run", noisy_run)
    monkeypatch.delenv("EXODEEPFINDER_DEBUG", raising=False)
    movie = tmp_path / "movie.h5"
    movie.write_bytes(b"")  # never read: run is replaced
    assert detect_spots.main(["-m", str(movie)]) == 0
    err = capsys.readouterr().err
    # before, Python printed each with its traceback (under --debug it still does)
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert any(line.startswith("warning: ignored RuntimeError: a finalizer failed in <") for line in lines), err
    assert "warning: ZeroDivisionError in helper: division by zero" in lines, err

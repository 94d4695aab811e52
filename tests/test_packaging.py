"""The standalone app (packaging/): built with PyInstaller, it detects the installed package's events
and opens its form window.

Building takes minutes, so these tests run only with ``EXODEEPFINDER_BUILD_APP=1``:

- ``EXODEEPFINDER_APP=<folder>``: test this app folder (e.g. ``packaging/dist/lite/exodeepfinder``,
  as ``packaging/ci.sh`` does after building it); otherwise the app is built in a temporary folder;
- ``EXODEEPFINDER_APP_FLAVOUR=full``: build or test the full app (default ``lite``);
- ``EXODEEPFINDER_SCREENSHOT=<file.png>``: where to keep the screenshot of the form window.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exodeepfinder import __version__
from exodeepfinder.events.evaluate import match_events
from exodeepfinder.io.events import read_events
from exodeepfinder.io.h5 import write_h5
from exodeepfinder.simulation import simulate_movie

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("EXODEEPFINDER_BUILD_APP") != "1",
                       reason="building the app takes minutes: set EXODEEPFINDER_BUILD_APP=1"),
]

REPOSITORY = Path(__file__).resolve().parents[1]
FLAVOUR = os.environ.get("EXODEEPFINDER_APP_FLAVOUR", "lite")
#: Unpacked size goal of the lite app.
LITE_SIZE_LIMIT = 1_000_000_000


def folder_size(folder: Path) -> int:
    return sum(path.lstat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Path:
    """The app's executable: the folder in $EXODEEPFINDER_APP, or built now."""
    if os.environ.get("EXODEEPFINDER_APP"):
        folder = Path(os.environ["EXODEEPFINDER_APP"]).resolve()
    else:
        build = tmp_path_factory.mktemp("app")
        subprocess.run([sys.executable, str(REPOSITORY / "packaging" / "build.py"), "--flavour", FLAVOUR,
                        "--dist", str(build / "dist"), "--work", str(build / "work")], check=True, timeout=3600)
        folder = build / "dist" / "exodeepfinder"
    executable = folder / ("exodeepfinder.exe" if sys.platform == "win32" else "exodeepfinder")
    assert executable.is_file(), f"{executable}: no app there"
    return executable


@pytest.fixture()
def environment(tmp_path):
    # an empty weights cache: the bundled model, whatever this machine downloaded
    return dict(os.environ, EXODEEPFINDER_CACHE=str(tmp_path / "cache"))


def test_app_detect_gives_the_installed_package_events(app, tmp_path, environment):
    simulation = simulate_movie((32, 96, 96), n_events=8, n_spots=8, seed=4)
    for name in ("app", "package"):
        (tmp_path / name).mkdir()
        write_h5(tmp_path / name / "movie.h5", simulation.movie)
    runs = {"app": [str(app)], "package": [sys.executable, "-m", "exodeepfinder"]}
    for name, command in runs.items():
        # --precision fast: the lite app has no NNCF, so its `auto` is `fast` where the package's is int8
        done = subprocess.run(command + ["detect", f"{name}/movie.h5", "--backend", "openvino", "--precision", "fast"],
                              cwd=tmp_path,
                              env=environment, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
        assert "bundled default model" in done.stdout
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "app" / "movie_events.csv"),
                                  pd.read_csv(tmp_path / "package" / "movie_events.csv"))
    summary = match_events(read_events(tmp_path / "app" / "movie_events.csv"), simulation.events).summary
    assert summary["f1"] >= 0.8, summary
    for suffix in ("_segmentation.h5", "_events.xml", "_events.png", "_gallery.png"):
        assert (tmp_path / "app" / f"movie{suffix}").is_file()


def test_app_runs_the_form_windows_child_processes(app, environment):
    # the form window runs "sys.executable -m exodeepfinder <command>": in the app, the app itself
    done = subprocess.run([str(app), "-m", "exodeepfinder", "--version"], env=environment, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"exodeepfinder {__version__}"


@pytest.mark.skipif(FLAVOUR != "lite", reason="the lite app only")
def test_lite_app_is_small_and_runs_without_torch(app, tmp_path, environment):
    folder = app.parent
    assert folder_size(folder) <= LITE_SIZE_LIMIT
    assert not list(folder.rglob("torch")) and not list(folder.rglob("napari"))
    write_h5(tmp_path / "movie.h5", simulate_movie((8, 32, 32), n_events=1, n_spots=1, seed=1).movie)
    done = subprocess.run([str(app), "segment", "-m", "movie.h5", "--backend", "torch"], cwd=tmp_path,
                          env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: backend='torch': needs PyTorch")


def read_xwd(path) -> np.ndarray:
    """The RGB image ``uint8 [y, x, 3]`` of an X window dump (Xvfb's framebuffer file, 24-bit TrueColor)."""
    data = Path(path).read_bytes()
    header = np.frombuffer(data[:100], ">u4")
    header_size, depth, width, height = int(header[0]), int(header[3]), int(header[4]), int(header[5])
    byte_order, bits_per_pixel, bytes_per_line, n_colors = int(header[7]), int(header[11]), int(header[12]), int(header[19])
    assert depth == 24 and bits_per_pixel == 32, f"{path}: expected a 24-bit framebuffer"
    start = header_size + 12 * n_colors  # after the colour map
    pixels = np.frombuffer(data[start:start + bytes_per_line * height], ">u4" if byte_order else "<u4")
    pixels = pixels.reshape(height, bytes_per_line // 4)[:, :width]
    return np.stack([(pixels >> 16) & 255, (pixels >> 8) & 255, pixels & 255], axis=-1).astype(np.uint8)


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="needs Xvfb (a virtual X server)")
def test_form_window_opens_under_xvfb(app, tmp_path, environment):
    framebuffer = tmp_path / "framebuffer"
    framebuffer.mkdir()
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x960x24",
                               "-fbdir", str(framebuffer), "-nolisten", "tcp"], pass_fds=(write_end,),
                              stderr=subprocess.DEVNULL)
    os.close(write_end)
    window = None
    try:
        with os.fdopen(read_end) as display_number:
            display = ":" + display_number.readline().strip()
        window = subprocess.Popen([str(app)], env=dict(environment, DISPLAY=display), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        screen = np.zeros((1, 1, 3), np.uint8)
        deadline = time.monotonic() + 120
        # the window is drawn when a good part of the (black) screen is light (Qt's window colour)
        while time.monotonic() < deadline and window.poll() is None:
            time.sleep(2)
            screen = read_xwd(framebuffer / "Xvfb_screen0")
            if (screen.mean(axis=-1) > 200).mean() > 0.2:
                time.sleep(3)  # let it finish drawing
                screen = read_xwd(framebuffer / "Xvfb_screen0")
                break
        alive = window.poll() is None
        screenshot = Path(os.environ.get("EXODEEPFINDER_SCREENSHOT", tmp_path / "form_window.png"))
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        import matplotlib.pyplot as plt

        plt.imsave(screenshot, screen)
        print(f"screenshot of the form window: {screenshot}")
    finally:
        if window is not None and window.poll() is None:
            window.terminate()
            output = window.communicate(timeout=30)[0]
        else:
            output = window.communicate()[0] if window is not None else ""
        server.terminate()
        server.wait(timeout=30)
    assert alive, f"the app exited: {output}"
    brightness = screen.mean(axis=-1)
    assert (brightness > 200).mean() > 0.2, "no window on the screen"
    rows, columns = np.flatnonzero((brightness > 200).any(axis=1)), np.flatnonzero((brightness > 200).any(axis=0))
    window_area = brightness[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]
    assert 0.005 < (window_area < 100).mean() < 0.3, "a blank window: no labels, no fields"

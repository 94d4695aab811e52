"""Build the standalone ExoDeepFinder app (a one-folder PyInstaller app) on this machine's OS.

Usage (from any folder, with the Python environment in which ExoDeepFinder and PyInstaller are
installed)::

    python packaging/build.py                 # lite: form window + all commands, OpenVINO, no PyTorch
    python packaging/build.py --flavour full  # + PyTorch (training, GPUs) and napari with the plugin

The app is ``packaging/dist/<flavour>/exodeepfinder/`` (run ``exodeepfinder`` or
``exodeepfinder.exe`` inside it); PyInstaller's work files go to ``packaging/build/<flavour>/``.
It prints the build time and the unpacked size. The same script builds on Linux, macOS and
Windows (PyInstaller builds for the OS it runs on); see docs/packaging.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

PACKAGING = Path(__file__).resolve().parent
SPEC = PACKAGING / "exodeepfinder.spec"
FLAVOURS = ("lite", "full")


def folder_size(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links not followed)."""
    return sum(path.lstat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def app_executable(app: Path) -> Path:
    """The executable inside the app folder ``app``."""
    return app / ("exodeepfinder.exe" if sys.platform == "win32" else "exodeepfinder")


def build(flavour: str = "lite", dist: Path | None = None, work: Path | None = None, clean: bool = True) -> Path:
    """Build the app of ``flavour`` and return its folder (``<dist>/exodeepfinder``)."""
    if flavour not in FLAVOURS:
        raise ValueError(f"flavour: expected one of {', '.join(FLAVOURS)}, got {flavour!r}")
    dist = Path(dist) if dist is not None else PACKAGING / "dist" / flavour
    work = Path(work) if work is not None else PACKAGING / "build" / flavour
    command = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work)]
    if clean:
        command.append("--clean")
    subprocess.run(command + ["--", "--flavour", flavour], check=True)
    return dist / "exodeepfinder"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flavour", choices=FLAVOURS, default="lite", help="lite (no PyTorch, no napari) or full")
    parser.add_argument("--dist", type=Path, default=None, help="where the app folder goes (default packaging/dist/<flavour>)")
    parser.add_argument("--work", type=Path, default=None, help="PyInstaller's work folder (default packaging/build/<flavour>)")
    parser.add_argument("--keep-cache", action="store_true", help="reuse PyInstaller's cache (faster rebuilds)")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("PyInstaller") is None:
        print("build.py: PyInstaller is not installed in this Python (pip install pyinstaller)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    app = build(args.flavour, args.dist, args.work, clean=not args.keep_cache)
    minutes = (time.perf_counter() - start) / 60
    print(f"{args.flavour} app: {app_executable(app)}")
    print(f"build time: {minutes:.1f} min; unpacked size: {folder_size(app) / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

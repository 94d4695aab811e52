"""Entry point of the standalone ExoDeepFinder app (PyInstaller).

``exodeepfinder`` alone opens the form window of every command; ``exodeepfinder <command> ...``
runs a command, as the installed ``exodeepfinder``. The form window runs each command as a
child process ``sys.executable -m exodeepfinder <command> ...``: in the app ``sys.executable``
is the app itself, so a leading ``-m exodeepfinder`` is dropped. In the full build,
``exodeepfinder napari [files]`` opens napari with the ExoDeepFinder plugin.
"""

import multiprocessing
import sys


def main() -> int:
    multiprocessing.freeze_support()  # worker processes (e.g. --cluster local:N) re-enter here
    argv = sys.argv[1:]
    if argv[:2] == ["-m", "exodeepfinder"]:
        argv = argv[2:]
        sys.argv = [sys.argv[0], *argv]
    if argv[:1] == ["napari"]:
        try:
            from napari.__main__ import main as napari_main
        except ImportError:
            print("exodeepfinder napari: this is the lite build, without napari (use the full build)",
                  file=sys.stderr)
            return 2
        sys.argv = ["napari", *argv[1:]]
        return napari_main()
    from exodeepfinder.launch import main as exodeepfinder_main

    return exodeepfinder_main()


if __name__ == "__main__":
    sys.exit(main())

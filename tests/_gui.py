"""What the GUI tests share: skip without Qt/napari or a display, and the plugin registered with napari."""

import os
import sys
from pathlib import Path

import pytest

MANIFEST = Path(__file__).resolve().parents[1] / "exodeepfinder" / "gui" / "napari.yaml"
PLUGIN = "exodeepfinder-torch"


def skip_without_gui(*modules: str) -> None:
    """Skip the calling test module unless ``modules`` import and there is a display for Qt."""
    for module in modules:
        pytest.importorskip(module)
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        pytest.skip("no display for Qt: install Xvfb (pytest-xvfb then starts one)", allow_module_level=True)


def register_plugin() -> str:
    """The plugin registered with napari's plugin manager (from its entry point, else from the manifest)."""
    from npe2 import PluginManager, PluginManifest

    manager = PluginManager.instance()
    try:
        manager.get_manifest(PLUGIN)
    except KeyError:  # the package was installed before the entry point existed
        manager.register(PluginManifest.from_file(MANIFEST))
    return PLUGIN

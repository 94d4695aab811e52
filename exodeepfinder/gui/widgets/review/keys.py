"""The Review widget's keys: which key does what, and binding them to the viewer and to layers.

A layer's own binding wins over the viewer's: napari binds ``A`` (select all) to points layers
and ``R``, ``E``... to shapes layers, so the widget binds its keys to the layers it works on too.
"""

from __future__ import annotations

from typing import Callable

KEYS = {"accept": "A", "reject": "R", "uncertain": "U", "add": "E", "move": "M", "next": "N", "previous": "B"}


def bind_keys(keymap_provider, slots: dict[str, Callable]) -> None:
    """Bind each key of :data:`KEYS` to ``slots[name]()`` on a viewer or a layer, over napari's own binding."""
    for name, key in KEYS.items():
        keymap_provider.bind_key(key, key_callback(slots[name]), overwrite=True)


def unbind_keys(keymap_provider) -> None:
    """Remove the widget's keys from a viewer or a layer (nothing if it is None)."""
    if keymap_provider is None:
        return
    for key in KEYS.values():
        try:
            keymap_provider.bind_key(key, None)
        except (KeyError, ValueError, RuntimeError):
            pass


def key_callback(slot):
    """A viewer key binding that calls ``slot()`` (napari passes the viewer)."""
    def callback(viewer):
        slot()

    callback.__doc__ = slot.__doc__
    return callback

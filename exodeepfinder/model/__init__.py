"""The ExoDeepFinder 3D U-Net and its weights.

:mod:`.unet` (the network), :mod:`.arrays` (its weights as arrays: the model where PyTorch is
not installed), :mod:`.keras_weights` (reading and writing the Keras HDF5 layout of
the official weights), :mod:`.weights` (which weights to use; :func:`~.weights.load_model`),
:mod:`.download` (the official weights), :mod:`.precision` (arithmetic modes), :mod:`.normalize`
(the per-frame normalisation of the network's input).
PyTorch is imported only when the network itself is needed.
"""

from .._lazy import lazy_names

_LAZY = {"UNet": "unet", "UNetWeights": "arrays", "load_keras_weights": "keras_weights",
         "read_unet_arrays": "keras_weights", "save_keras_weights": "keras_weights"}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())

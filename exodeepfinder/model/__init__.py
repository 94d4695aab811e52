"""The ExoDeepFinder 3D U-Net and its weights."""

from .keras_weights import load_keras_weights, save_keras_weights  # noqa: F401
from .unet import UNet  # noqa: F401

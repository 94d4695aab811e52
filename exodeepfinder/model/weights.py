"""Find the U-Net weights to use and load them onto a device.

Resolution order: an explicit path (``--model_weights``), the ``EXODEEPFINDER_WEIGHTS``
environment variable, the official weights in the user cache (see
:func:`official_weights_path`), then the default model bundled with the package.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError

ENV_WEIGHTS = "EXODEEPFINDER_WEIGHTS"
ENV_CACHE = "EXODEEPFINDER_CACHE"
OFFICIAL_FILENAME = "net_weights_FINAL.h5"
BUNDLED_WEIGHTS = Path(__file__).parent / "data" / "exodeepfinder_default.h5"


def cache_dir() -> Path:
    """The per-user folder for downloaded weights (``EXODEEPFINDER_CACHE`` overrides it)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "exodeepfinder"


def official_weights_path() -> Path:
    """Where ``exodeepfinder download-weights`` keeps the official ExoDeepFinder weights."""
    return cache_dir() / OFFICIAL_FILENAME


def resolve_weights(path=None) -> tuple[Path, str]:
    """Return the weights file to use and a short description of where it came from.

    Raises
    ------
    InputError
        If an explicit or environment path does not exist, or no weights are found at all.
    """
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise InputError(f"{path}: weights file not found")
        return path, "--model_weights"
    if os.environ.get(ENV_WEIGHTS):
        path = Path(os.environ[ENV_WEIGHTS]).expanduser()
        if not path.is_file():
            raise InputError(f"{path}: weights file not found (set by {ENV_WEIGHTS})")
        return path, ENV_WEIGHTS
    if official_weights_path().is_file():
        return official_weights_path(), "official ExoDeepFinder weights (user cache)"
    if BUNDLED_WEIGHTS.is_file():
        return BUNDLED_WEIGHTS, "bundled default model"
    raise InputError("no model weights found: pass --model_weights FILE, set EXODEEPFINDER_WEIGHTS, "
                     "or run 'exodeepfinder download-weights' to fetch the official ExoDeepFinder weights")


def pick_device(name: str = "auto"):
    """Return a torch.device for ``name`` in {'auto', 'cpu', 'cuda', 'mps'} ('auto': cuda, else mps, else cpu)."""
    import torch

    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is available to PyTorch")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("--device mps: Apple MPS is not available to PyTorch")
    if name not in ("cpu", "cuda", "mps"):
        raise InputError(f"--device {name}: expected auto, cpu, cuda or mps")
    return torch.device(name)


def load_unet(path=None, device="auto"):
    """Build the U-Net, load weights (resolved by :func:`resolve_weights`) and move it to ``device``.

    Returns
    -------
    model : UNet
        In eval mode, on ``device``.
    device : torch.device
    source : str
        ``"<path> (<where it came from>)"``, for the user to see which weights run.
    """
    from .keras_weights import load_keras_weights
    from .unet import UNet

    weights, origin = resolve_weights(path)
    device = pick_device(device) if isinstance(device, str) else device
    model = load_keras_weights(UNet(), weights).to(device).eval()
    return model, device, f"{weights} ({origin})"

"""Cell mask files: a label image (TIFF, PNG or NumPy ``.npy``) whose non-zero pixels are the cell."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError

MASK_SUFFIXES = (".tif", ".tiff", ".png", ".npy")


def read_mask(path) -> np.ndarray:
    """Read a mask file as an array (a label image: 0 outside, > 0 inside the cell).

    Raises
    ------
    InputError
        A missing file, an unknown suffix, or a file that cannot be read as a 2D image.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: mask file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            mask = tifffile.imread(path)
        elif suffix == ".npy":
            mask = np.load(path, allow_pickle=False)
        elif suffix == ".png":
            import matplotlib.image

            mask = matplotlib.image.imread(path)
            if mask.ndim == 3:  # RGB(A): any colour is the cell
                mask = mask[..., :3].max(axis=-1)
        else:
            raise InputError(f"{path}: unknown mask format '{path.suffix}' (expected {', '.join(MASK_SUFFIXES)})")
    except InputError:
        raise
    except Exception as err:  # corrupt or foreign files: one line, not a traceback
        raise InputError(f"{path}: not a readable mask image ({type(err).__name__}: {str(err)[:100]})") from None
    mask = np.squeeze(np.asarray(mask))
    if mask.ndim != 2:
        raise InputError(f"{path}: expected a 2D mask image, got shape {mask.shape}")
    return mask

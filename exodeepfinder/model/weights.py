"""Find the U-Net weights to use and load them onto a device.

Resolution order: a file or name given by the caller, the ``EXODEEPFINDER_WEIGHTS``
environment variable, the official weights in the user cache (see
:func:`official_weights_path`), then the default model bundled with the package.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..io.digest import file_sha256 as sha256sum  # noqa: F401

ENV_WEIGHTS = "EXODEEPFINDER_WEIGHTS"
ENV_CACHE = "EXODEEPFINDER_CACHE"
OFFICIAL_FILENAME = "net_weights_FINAL.h5"
BUNDLED_WEIGHTS = Path(__file__).parent / "data" / "exodeepfinder_default.h5"


#: sha256 of the official weights file (10,979,520 bytes).
OFFICIAL_SHA256 = "2c811b08a11a661a8129e561452acc567cab583bcf7e3aa8a4cb446c5412d4cc"



def cache_dir() -> Path:
    """The per-user folder for downloaded weights (``EXODEEPFINDER_CACHE`` overrides it)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "exodeepfinder"


def official_weights_path() -> Path:
    """Where ``exodeepfinder download-weights`` keeps the official ExoDeepFinder weights."""
    return cache_dir() / OFFICIAL_FILENAME


def checksum_path(path) -> Path:
    """The file beside a downloaded weights file that keeps its sha256 (``net_weights_FINAL.h5.sha256``)."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


#: sha256 of cached weights already checked in this process, by (path, mtime, size).
_VERIFIED_CACHE: dict = {}


def verify_cached_weights(path) -> Path:
    """Re-hash the cached official weights: InputError if they are not what was downloaded.

    The expected sha256 is the one recorded beside the file by ``download-weights``
    (:func:`checksum_path`), else that of the official file. A file is hashed once per process
    (until it changes).
    """
    path = Path(path)
    try:
        record = checksum_path(path)
        expected = record.read_text().split()[0].lower() if record.is_file() else OFFICIAL_SHA256
        info = path.stat()
        key = (str(path), info.st_mtime_ns, info.st_size)
        digest = _VERIFIED_CACHE.get(key) or sha256sum(path)
    except (OSError, IndexError) as err:
        raise InputError(f"{path}: cannot check the cached weights ({getattr(err, 'strerror', None) or err})") from None
    if digest != expected:
        raise InputError(f"{path}: the cached weights are damaged or were replaced (sha256 {digest[:12]}..., "
                         f"downloaded {expected[:12]}...); run 'exodeepfinder download-weights' again")
    _VERIFIED_CACHE[key] = digest
    return path


#: Names that ``weights`` may take instead of a path.
WEIGHTS_NAMES = ("bundled", "official")


def resolve_weights(weights=None) -> tuple[Path, str]:
    """Return the weights file to use and a short description of where it came from.

    Parameters
    ----------
    weights : str or Path, optional
        A weights file; a model folder written by ``exodeepfinder adapt`` (its ``weights.h5``);
        ``"bundled"`` (the default model shipped with the package);
        ``"official"`` (the official ExoDeepFinder weights fetched by ``exodeepfinder
        download-weights``); or None: ``$EXODEEPFINDER_WEIGHTS``, else the official weights if
        they were downloaded, else the bundled model.

    Raises
    ------
    InputError
        If the file named does not exist, or no weights are found at all.
    """
    if isinstance(weights, str) and weights in WEIGHTS_NAMES:
        path = BUNDLED_WEIGHTS if weights == "bundled" else official_weights_path()
        if not path.is_file():
            hint = ("run 'exodeepfinder download-weights' first" if weights == "official"
                    else "the package installation is incomplete")
            raise InputError(f"{path}: {weights} weights not found ({hint})")
        if weights == "official":
            verify_cached_weights(path)
        return path, ("bundled default model" if weights == "bundled" else "official ExoDeepFinder weights")
    if weights is not None:
        path = Path(weights).expanduser()
        if path.is_dir():  # a model folder of 'exodeepfinder adapt': its weights, once its files are checked
            from .folder import read_model_folder

            return read_model_folder(path).weights_path, f"model folder {path}"
        if not path.is_file():
            raise InputError(f"{path}: weights file not found")
        return path, "given file"
    if os.environ.get(ENV_WEIGHTS):
        path = Path(os.environ[ENV_WEIGHTS]).expanduser()
        if not path.is_file():
            raise InputError(f"{path}: weights file not found (set by {ENV_WEIGHTS})")
        return path, ENV_WEIGHTS
    if official_weights_path().is_file():
        return verify_cached_weights(official_weights_path()), "official ExoDeepFinder weights (user cache)"
    if BUNDLED_WEIGHTS.is_file():
        return BUNDLED_WEIGHTS, "bundled default model"
    raise InputError("no model weights found: give a weights file, set EXODEEPFINDER_WEIGHTS, "
                     "or run 'exodeepfinder download-weights' to fetch the official ExoDeepFinder weights")


#: Devices the network can run on (``"auto"``: cuda, else mps, else cpu).
DEVICES = ("auto", "cpu", "cuda", "mps")


def require_torch(what: str):
    """The ``torch`` module; InputError naming ``what`` (e.g. ``"device cuda"``) where PyTorch is not installed."""
    from .arrays import import_torch

    torch = import_torch()
    if torch is None:
        raise InputError(f"{what}: needs PyTorch, which is not installed (this installation runs the network "
                         "on the CPU with OpenVINO; install PyTorch with 'pip install torch')")
    return torch


def pick_device(name: str = "auto"):
    """Return a torch.device for ``name`` in {'auto', 'cpu', 'cuda', 'mps'} ('auto': cuda, else mps, else cpu)."""
    name = (name or "auto").lower()
    torch = require_torch(f"device {name}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda: no CUDA GPU is available to PyTorch")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise InputError("device mps: Apple MPS is not available to PyTorch")
    if name not in DEVICES:
        raise InputError(f"device {name!r}: expected one of {', '.join(DEVICES)}")
    return torch.device(name)


def load_model(weights=None, device="auto"):
    """The ExoDeepFinder U-Net with its weights, ready to segment movies.

    Parameters
    ----------
    weights : str or Path, optional
        A Keras-layout weights file (``.h5``, e.g. the official ``net_weights_FINAL.h5`` or one
        written by training), a model folder written by ``exodeepfinder adapt`` (see
        :mod:`~exodeepfinder.model.folder`), ``"bundled"``, ``"official"``, or None for the
        default choice (see :func:`resolve_weights`).
    device : str or torch.device
        ``"auto"`` (CUDA, else Apple MPS, else CPU), ``"cpu"``, ``"cuda"`` or ``"mps"``.

    Returns
    -------
    UNet or UNetWeights
        The PyTorch :class:`~exodeepfinder.model.unet.UNet` in eval mode on ``device``; where
        PyTorch is not installed, a :class:`~exodeepfinder.model.arrays.UNetWeights` (the same
        weights as arrays, for the OpenVINO backend on the CPU). Either has the attributes
        ``weights_path`` (the file loaded), ``weights_source`` (where it came from, e.g.
        ``"bundled default model"``) and ``device``; from a model folder also ``classifier``
        (its candidate classifier, or None), which :func:`~exodeepfinder.pipeline.detect` applies,
        and ``model_card``.

    Raises
    ------
    InputError
        If the weights file is missing or not ExoDeepFinder U-Net weights, or if ``device`` is a
        GPU where PyTorch is not installed.

    Examples
    --------
    >>> model = load_model("bundled", device="cpu")
    >>> model.weights_source
    'bundled default model'
    """
    from .arrays import UNetWeights, import_torch

    folder = None
    if weights is not None and not (isinstance(weights, str) and weights in WEIGHTS_NAMES) and \
            Path(weights).expanduser().is_dir():
        from .folder import read_model_folder

        folder = read_model_folder(weights)
        path, source = folder.weights_path, f"model folder {folder.path}"
    else:
        path, source = resolve_weights(weights)
    model = UNetWeights(_read_weights(path))
    if import_torch() is not None:
        device = pick_device(device) if isinstance(device, str) else device
        model = model.to_torch().to(device)
    elif str(device or "auto").lower() not in ("auto", "cpu"):
        require_torch(f"device {device}")
    model.weights_path, model.weights_source = path, source
    if folder is not None:
        model.classifier, model.model_card = folder.classifier, folder.card
    if not isinstance(model, UNetWeights):
        model.device = device
    return model


def _read_weights(path: Path):
    """The U-Net's arrays from ``path``; any failure an InputError naming the file.

    A file that is not HDF5 is refused before anything else is read; a foreign HDF5 file makes
    the reader meet something it does not expect, said in one line.
    """
    from ..errors import Cancelled
    from ..io.h5 import open_h5_file
    from .keras_weights import read_unet_arrays

    open_h5_file(path, "weights file").close()
    try:
        return read_unet_arrays(path)
    except (InputError, Cancelled, KeyboardInterrupt):
        raise
    except Exception as err:
        raise InputError(f"{path}: not ExoDeepFinder U-Net weights ({type(err).__name__}: "
                         f"{' '.join(str(err).split())[:200]})") from None


#: The last model :func:`cached_model` loaded, by (weights file, its modification time, device).
_LOADED = {}


def cached_model(weights=None, device="auto"):
    """:func:`load_model`, but the model loaded last is reused while its file is unchanged.

    For commands that run on many movies (``--batch``, a Dask worker) and for the napari widget:
    one model in memory, loaded once per weights file and device. Its ``weights_source`` is set
    for this call (the same file may have been named otherwise before).
    """
    path, source = resolve_weights(weights)
    key = (str(path), path.stat().st_mtime_ns, str(device))
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_model(weights, device)
    model = _LOADED[key]
    model.weights_source = source
    return model


def describe_model(model) -> str:
    """One line saying which weights ``model`` runs, from where, on which device."""
    path = getattr(model, "weights_path", None)
    if path is None:
        return "weights: (given model)"
    return f"weights: {path} ({model.weights_source}); device: {model.device}"

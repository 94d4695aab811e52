"""The network's labels of a movie: every voxel background (0), bright spot (1) or exocytosis event (2)."""

from __future__ import annotations


def model_or_default(model):
    """``model``, or the default model (:func:`~exodeepfinder.model.weights.load_model`) when None."""
    from ..model.weights import load_model

    return load_model() if model is None else model


def segment(movie, model=None, *, patch_size: int = 160, precision: str = "auto", backend: str = "auto",
            tiling: str | None = None, return_scores: bool = False, max_memory=None, progress=None):
    """Label every voxel of a movie as background (0), bright spot (1) or exocytosis event (2).

    Parameters
    ----------
    movie : array-like, shape (t, y, x)
        Raw movie: a NumPy array, or a lazy movie from :func:`~exodeepfinder.io.movie.open_movie`
        (read block of frames by block of frames).
    model : UNet or UNetWeights, optional
        From :func:`~exodeepfinder.model.weights.load_model` (default: ``load_model()``).
    patch_size : int
        Patch size of the reference tiling (multiple of 4, at least 56).
    precision : {"auto", "fast", "fp32", "int8"}
        ``"fast"``: 16-bit arithmetic where the hardware has it; ``"fp32"``: the reference's
        float32 numbers (and its tiling); ``"int8"``: 8-bit integer convolutions (OpenVINO on a
        CPU); ``"auto"`` (default): int8 on a CPU with OpenVINO, else fast.
    backend : {"auto", "torch", "openvino"}
        Inference engine (``"auto"``: OpenVINO on CPUs, PyTorch on GPUs).
    tiling : {"fast", "reference"}, optional
        ``"reference"``: the reference's windows; ``"fast"``: large windows. Default: reference
        with ``precision="fp32"``, else fast.
    return_scores : bool
        Also return the class probabilities.
    max_memory : int or str, optional
        Memory budget of the network's windows (bytes, or text such as ``"2GB"``).
    progress : callable, optional
        ``progress(done, total)``; returning False cancels (raises Cancelled).

    Returns
    -------
    labels : ndarray of int8, shape (t, y, x)
    scores : ndarray of float16, shape (t, 3, y, x)
        Only with ``return_scores``.
    """
    from ..inference import segment_movie
    from ..io.movie import as_movie

    return segment_movie(as_movie(movie), model_or_default(model), patch_size=patch_size, precision=precision,
                         return_scores=return_scores, progress=progress, backend=backend, tiling=tiling,
                         max_memory=max_memory)


def iter_segment(movie, model=None, *, patch_size: int = 160, precision: str = "auto", backend: str = "auto",
                 tiling: str | None = None, return_scores: bool = False, max_memory=None, progress=None):
    """Like :func:`segment`, but yield :class:`~exodeepfinder.inference.SegmentedBlock` s of frames in order.

    Memory holds one block at a time, whatever the length of the movie.
    """
    from ..inference import iter_segment as iter_blocks
    from ..io.movie import as_movie

    return iter_blocks(as_movie(movie), model_or_default(model), patch_size=patch_size, precision=precision,
                       return_scores=return_scores, progress=progress, backend=backend, tiling=tiling,
                       max_memory=max_memory)


def segment_with_scores(movie, model, **options):
    """The labels, class probabilities and frames without contrast of a movie checked by ``as_movie``.

    ``options`` go to :func:`~exodeepfinder.inference.iter_segment` (``return_scores`` is set).
    Like :func:`segment` with ``return_scores``, and also the frames the network saw blank,
    which a segmentation file records (:data:`~exodeepfinder.io.segmentation.NO_CONTRAST_ATTR`).

    Returns
    -------
    labels : ndarray of int8, shape (t, y, x)
    scores : ndarray of float16, shape (t, 3, y, x)
    no_contrast : tuple of int
    """
    import numpy as np

    from ..inference import iter_segment as iter_blocks

    n_frames, height, width = movie.shape
    labels = np.empty((n_frames, height, width), np.int8)
    scores = np.empty((n_frames, 3, height, width), np.float16)
    no_contrast = []
    for block in iter_blocks(movie, model, **dict(options, return_scores=True)):
        labels[block.start:block.stop], scores[block.start:block.stop] = block.labels, block.scores
        no_contrast.extend(block.no_contrast)
    return labels, scores, tuple(no_contrast)

"""Tiled segmentation of a movie with the U-Net: labels (and class scores) for every voxel.

The result reproduces the reference ExoDeepFinder inference (per-frame normalisation, zero
padding of 25 voxels, patches whose central part is kept, overlaps averaged, argmax), while
computing less along t: see :mod:`exodeepfinder.inference.tiling`. The movie is read and the
labels are produced block of frames by block of frames, so memory does not grow with the
length of the movie.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass

import numpy as np

from ..model.precision import PRECISIONS, autocast_dtype, check_precision
from ..progress import report
from .normalize import normalize_frames
from .tiling import PAD, T_REACH, AxisTiling, reference_axis, time_windows

#: Voxels of one network call (all windows of a batch together) in each precision; bounds memory.
MAX_VOXELS = {"fast": 4_000_000, "fp32": 2_000_000}


@dataclass
class SegmentedBlock:
    """Finished frames ``[start, stop)`` of a segmentation."""

    start: int
    stop: int
    labels: np.ndarray          # int8 [frames, y, x]
    scores: np.ndarray | None   # float16 [frames, 3, y, x] or None


@dataclass(frozen=True)
class _Plan:
    y: AxisTiling
    x: AxisTiling
    frames_per_window: int
    batch: int

    @property
    def windows_per_block(self):
        return len(self.y.starts) * len(self.x.starts)


def _check_patch_size(patch_size) -> int:
    if int(patch_size) != patch_size or patch_size < 56 or patch_size % 4:
        raise ValueError(f"patch_size: must be a multiple of 4 and at least 56, got {patch_size}")
    return int(patch_size)


def _plan(shape, patch_size: int, max_voxels: int) -> _Plan:
    n_frames, height, width = shape
    y_axis, x_axis = reference_axis(height, patch_size), reference_axis(width, patch_size)
    plane = y_axis.size * x_axis.size
    n_windows = len(y_axis.starts) * len(x_axis.starts)
    frames = max(max_voxels // plane, 2 * T_REACH + 4)
    # With room to spare, batch several windows of a plane rather than lengthen them past the movie.
    frames = min(frames, n_frames + 2 * T_REACH)
    batch = int(max(1, min(n_windows, max_voxels // (frames * plane))))
    return _Plan(y_axis, x_axis, frames, batch)


def _float32_ends(model):
    """Make the first and last convolutions of ``model`` run in float32 under autocast (in place).

    They cost < 1% of the work, and rounding the normalised movie and the class logits to
    16 bits is what most moves voxels near a tie between two classes.
    """
    import torch

    class Float32Conv3d(torch.nn.Conv3d):
        def forward(self, x):
            with torch.autocast(device_type=x.device.type, enabled=False):
                return super().forward(x.float())

    for index in (0, len(model.convs) - 1):
        model.convs[index].__class__ = Float32Conv3d


def _autocast(device, precision):
    import torch

    dtype = autocast_dtype(device, precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _read_window(movie, window_start, window_stop, y_axis, x_axis) -> np.ndarray:
    """Normalised frames of padded t-range ``[window_start, window_stop)``, zero-padded in t, y and x."""
    n_frames, height, width = movie.shape
    out = np.zeros((window_stop - window_start, y_axis.length, x_axis.length), np.float32)
    first, last = max(window_start - PAD, 0), min(window_stop - PAD, n_frames)
    if last > first:
        out[first + PAD - window_start:last + PAD - window_start, PAD:PAD + height, PAD:PAD + width] = \
            normalize_frames(np.asarray(movie[first:last]))
    return out


def iter_segment(movie, model, *, patch_size: int = 160, precision: str = "fast", device=None,
                 return_scores: bool = False, progress=None, max_voxels: int | None = None):
    """Segment ``movie`` block of frames by block of frames.

    Same parameters as :func:`segment_movie`, plus ``max_voxels`` (voxels per network call;
    default :data:`MAX_VOXELS`), which bounds memory.

    Yields
    ------
    SegmentedBlock
        Consecutive blocks of finished frames, in order, covering the whole movie.
    """
    import torch

    patch_size = _check_patch_size(patch_size)
    check_precision(precision)
    shape = tuple(movie.shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"movie: expected a non-empty [t, y, x] array, got shape {shape}")
    n_frames, height, width = shape
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    model = _prepare_model(model, device, precision)
    plan = _plan(shape, patch_size, max_voxels or MAX_VOXELS[precision])
    blocks = list(time_windows(n_frames, plan.frames_per_window))
    total = len(blocks) * plan.windows_per_block
    report(progress, 0, total)
    counts = np.zeros((plan.y.length, plan.x.length), np.float32)
    for y0, y1 in map(plan.y.kept, range(len(plan.y.starts))):
        for x0, x1 in map(plan.x.kept, range(len(plan.x.starts))):
            counts[y0:y1, x0:x1] += 1
    region = (slice(None), slice(None), slice(PAD, PAD + height), slice(PAD, PAD + width))
    for index, (first, last, window_start, window_stop) in enumerate(blocks):
        frames = _read_window(movie, window_start, window_stop, plan.y, plan.x)
        keep = slice(first + PAD - window_start, last + PAD - window_start)
        done = index * plan.windows_per_block
        sums = _predict_block(model, frames, keep, plan, device, precision,
                              lambda n: report(progress, done + n, total))
        scores = sums[region] / counts[region[2:]]
        labels = np.argmax(scores, axis=0).astype(np.int8)
        scores = np.moveaxis(scores, 0, 1).astype(np.float16) if return_scores else None
        yield SegmentedBlock(first, last, labels, scores)


def _prepare_model(model, device, precision):
    """A copy of ``model`` on ``device``, in eval mode, laid out for speed (the caller's model is untouched)."""
    import torch

    model = copy.deepcopy(model).to(device).eval()
    if precision == "fast":
        _float32_ends(model)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last_3d)
    return model


def _predict_block(model, frames, keep, plan: _Plan, device, precision, progress) -> np.ndarray:
    """Sum of the kept class probabilities of every y/x window over one block of frames.

    Returns float32 ``[3, kept frames, padded y, padded x]``; ``progress(n)`` after each batch.
    """
    import torch

    windows = [(ys, xs) for ys in plan.y.starts for xs in plan.x.starts]
    (cy, cx), (sy, sx) = (plan.y.crop, plan.x.crop), (plan.y.size, plan.x.size)
    sums = np.zeros((3, keep.stop - keep.start, plan.y.length, plan.x.length), np.float32)
    with torch.inference_mode(), _autocast(device, precision):
        for batch_start in range(0, len(windows), plan.batch):
            batch = windows[batch_start:batch_start + plan.batch]
            patches = np.stack([frames[:, ys:ys + sy, xs:xs + sx] for ys, xs in batch])[:, None]
            inputs = torch.from_numpy(patches).to(device)
            if device.type == "cpu":
                inputs = inputs.contiguous(memory_format=torch.channels_last_3d)
            probabilities = model(inputs)[:, :, keep, cy:sy - cy, cx:sx - cx].float().cpu().numpy()
            for (ys, xs), patch in zip(batch, probabilities):
                sums[:, :, ys + cy:ys + sy - cy, xs + cx:xs + sx - cx] += patch
            progress(batch_start + len(batch))
    return sums


def segment_movie(movie, model, *, patch_size: int = 160, precision: str = "fast", device=None,
                  return_scores: bool = False, progress=None, max_voxels: int | None = None):
    """Segment a movie into background (0), bright spots (1) and exocytosis events (2).

    Parameters
    ----------
    movie : array-like, shape (t, y, x)
        Raw movie: a NumPy array, an h5py dataset, a :class:`~exodeepfinder.io.movie.TiffFolder`...
        It is read block of frames by block of frames.
    model : UNet
        The network (see :func:`exodeepfinder.model.weights.load_unet`).
    patch_size : int
        Patch size of the reference tiling (multiple of 4, at least 56, default 160): the y/x
        windows are the reference's; along t, windows are longer (same values, less waste).
    precision : {"fast", "fp32"}
        ``"fp32"``: float32 everywhere, the reference's numbers. ``"fast"`` (default):
        bfloat16 autocast on CPU (bfloat16, else float16, on GPU).
    device : torch.device or str, optional
        Where to run the network (default: where ``model`` is).
    return_scores : bool
        Also return the class probabilities.
    progress : callable, optional
        ``progress(done, total)`` over network windows; return False to cancel.
    max_voxels : int, optional
        Voxels per network call (bounds memory).

    Returns
    -------
    labels : ndarray of int8, shape (t, y, x)
    scores : ndarray of float16, shape (t, 3, y, x)
        Only with ``return_scores``: probabilities of background, spot and event, averaged
        over overlapping tiles.
    """
    n_frames, height, width = movie.shape
    labels = np.empty((n_frames, height, width), np.int8)
    scores = np.empty((n_frames, 3, height, width), np.float16) if return_scores else None
    for block in iter_segment(movie, model, patch_size=patch_size, precision=precision, device=device,
                              return_scores=return_scores, progress=progress, max_voxels=max_voxels):
        labels[block.start:block.stop] = block.labels
        if return_scores:
            scores[block.start:block.stop] = block.scores
    return (labels, scores) if return_scores else labels

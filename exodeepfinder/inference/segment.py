"""Tiled segmentation of a movie with the U-Net: labels (and class scores) for every voxel.

The movie is normalised frame by frame (1st percentile to 0, 99th to 1), zero-padded by 25
voxels on every side and cut into windows (:mod:`exodeepfinder.inference.tiling`): the
reference ExoDeepFinder windows (``tiling="reference"``, the reference's labels) or windows as
large as the memory budget allows (``tiling="fast"``). Each window runs through the network
with PyTorch or OpenVINO (:mod:`exodeepfinder.inference.backends`); the central part of each
window is kept, overlaps are averaged, and the label is the most probable class.

The movie is read and the labels are produced block of frames by block of frames, so memory
does not grow with the length of the movie; the next block is read and normalised while the
network computes the current one.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..model.precision import check_precision
from ..progress import report
from .backends import check_backend, make_runner
from .memory import working_memory
from ..model.normalize import normalize_frames
from .tiling import FAST_PAD, PAD, T_REACH, TILINGS, plan_tiling, stream_chunks, time_blocks

log = logging.getLogger(__name__)


@dataclass
class SegmentedBlock:
    """Finished frames ``[start, stop)`` of a segmentation."""

    start: int
    stop: int
    labels: np.ndarray          # int8 [frames, y, x]
    scores: np.ndarray | None   # float16 [frames, 3, y, x] or None
    no_contrast: tuple = ()     # frames (movie indices, in [start, stop)) normalised to zeros: no contrast


def describe_no_contrast(frames, n_frames: int) -> str:
    """The warning for frames without contrast: how many, which (the first 10)."""
    shown = ", ".join(str(t) for t in frames[:10]) + (", ..." if len(frames) > 10 else "")
    return (f"{len(frames)} of {n_frames} frame(s) without contrast (1st and 99th percentiles equal) were "
            f"normalised to zeros: the network sees nothing there (t={shown})")


def _check_patch_size(patch_size) -> int:
    if int(patch_size) != patch_size or patch_size < 56 or patch_size % 4:
        raise ValueError(f"patch_size: must be a multiple of 4 and at least 56, got {patch_size}")
    return int(patch_size)


def resolve_tiling(tiling, precision: str) -> str:
    """The tiling to use: ``tiling``, or by default ``"reference"`` for ``precision="fp32"`` and ``"fast"`` otherwise."""
    if tiling is None:
        return "reference" if precision == "fp32" else "fast"
    if tiling not in TILINGS:
        raise ValueError(f"tiling: expected one of {', '.join(TILINGS)}, got {tiling!r}")
    return tiling


def _read_window(movie, window_start, window_stop, y_axis, x_axis) -> tuple[np.ndarray, list]:
    """Normalised frames of padded t-range ``[window_start, window_stop)``, zero-padded in t, y and x,
    and the movie indices of the frames without contrast among them."""
    n_frames, height, width = movie.shape
    out = np.zeros((window_stop - window_start, y_axis.length, x_axis.length), np.float32)
    first, last = max(window_start - PAD, 0), min(window_stop - PAD, n_frames)
    no_contrast = []
    if last > first:
        out[first + PAD - window_start:last + PAD - window_start,
            y_axis.offset:y_axis.offset + height, x_axis.offset:x_axis.offset + width] = \
            normalize_frames(np.asarray(movie[first:last]), no_contrast=no_contrast)
    return out, [first + i for i in no_contrast]


def prepare(movie_shape, model, *, patch_size=160, precision="auto", backend="auto", tiling=None, device=None,
            max_memory=None, itemsize: int = 8):
    """Check the arguments of a segmentation and choose its engine and windows.

    ``itemsize``: bytes per pixel of the movie (its reading and normalisation count in the budget).

    Returns
    -------
    runner
        See :func:`exodeepfinder.inference.backends.make_runner`.
    plan : TilePlan
        See :func:`exodeepfinder.inference.tiling.plan_tiling`.
    """
    patch_size = _check_patch_size(patch_size)
    check_precision(precision)
    check_backend(backend)
    tiling = resolve_tiling(tiling, precision)
    shape = tuple(movie_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"movie: expected a non-empty [t, y, x] array, got shape {shape}")
    memory = working_memory(max_memory)
    if device is None:  # where the model is: a UNet's parameters, or the CPU for a UNetWeights
        device = next(model.parameters()).device if hasattr(model, "parameters") else model.device
    runner = make_runner(model, backend, device, precision)
    plan = plan_tiling(shape, tiling, patch_size=patch_size, memory=memory, bytes_per_voxel=runner.bytes_per_voxel,
                       max_window_voxels=runner.max_window_voxels, batching=runner.batching, input_itemsize=itemsize,
                       border_pad=FAST_PAD if getattr(runner, "int8", False) else PAD, stream=runner.stream_bytes)
    return runner, plan


def iter_segment(movie, model, *, patch_size: int = 160, precision: str = "auto", backend: str = "auto",
                 tiling: str | None = None, device=None, return_scores: bool = False, progress=None,
                 max_memory=None):
    """Segment ``movie`` block of frames by block of frames.

    Same parameters as :func:`segment_movie`.

    Yields
    ------
    SegmentedBlock
        Consecutive blocks of finished frames, in order, covering the whole movie. Frames without
        contrast (normalised to zeros, see :func:`~exodeepfinder.inference.normalize_frames`)
        are listed in each block's ``no_contrast`` and, at the end, in one logged warning.
    """
    itemsize = getattr(getattr(movie, "dtype", None), "itemsize", 8)
    runner, plan = prepare(movie.shape, model, patch_size=patch_size, precision=precision, backend=backend,
                           tiling=tiling, device=device, max_memory=max_memory, itemsize=itemsize)
    n_frames, height, width = movie.shape
    # the movie's pixels in a padded frame
    region = (slice(None), slice(None), slice(plan.y.offset, plan.y.offset + height),
              slice(plan.x.offset, plan.x.offset + width))
    if plan.stream:
        yield from _iter_stream(movie, runner, plan, region, return_scores, progress)
        return
    blocks = list(time_blocks(n_frames, plan.frames_per_block, plan.t_margin))
    total = len(blocks) * plan.windows_per_block
    report(progress, 0, total)
    counts = np.zeros((plan.y.length, plan.x.length), np.float32)
    for y0, y1 in map(plan.y.kept, range(len(plan.y.starts))):
        for x0, x1 in map(plan.x.kept, range(len(plan.x.starts))):
            counts[y0:y1, x0:x1] += 1
    counts = counts[region[2:]]
    no_contrast = []
    # One thread reads and normalises the next block while the network computes this one.
    with ThreadPoolExecutor(1, thread_name_prefix="exodeepfinder-read") as reader:
        read = [reader.submit(_read_window, movie, *blocks[0][2:], plan.y, plan.x)]
        for index, (first, last, window_start, window_stop) in enumerate(blocks):
            frames, blank = read.pop().result()
            blank = tuple(t for t in blank if first <= t < last)
            no_contrast.extend(blank)
            if index + 1 < len(blocks):
                read.append(reader.submit(_read_window, movie, *blocks[index + 1][2:], plan.y, plan.x))
            keep = slice(first + PAD - window_start, last + PAD - window_start)
            done = index * plan.windows_per_block
            sums = _predict_block(runner, frames, keep, plan, lambda n: report(progress, done + n, total))
            del frames
            scores = sums[region]
            if plan.windows_per_block > 1:
                scores /= counts
            labels = np.argmax(scores, axis=0).astype(np.int8)
            scores = np.moveaxis(scores, 0, 1).astype(np.float16) if return_scores else None
            del sums
            yield SegmentedBlock(first, last, labels, scores, blank)
    if no_contrast:
        log.warning(describe_no_contrast(no_contrast, n_frames))


def _iter_stream(movie, runner, plan, region, return_scores, progress):
    """:func:`iter_segment` of a streamed plan (:func:`~exodeepfinder.inference.tiling.stream_chunks`);
    ``region``: the movie's pixels in a padded frame."""
    n_frames = movie.shape[0]
    chunks = list(stream_chunks(n_frames, plan.frames_per_block))
    report(progress, 0, len(chunks))
    step = runner.stream((plan.frames_per_block, plan.y.size, plan.x.size))
    no_contrast = []
    with ThreadPoolExecutor(1, thread_name_prefix="exodeepfinder-read") as reader:
        read = [reader.submit(_read_window, movie, *chunks[0][2:], plan.y, plan.x)]
        for index, (first, last, input_start, _) in enumerate(chunks):
            frames, blank = read.pop().result()
            # a frame's contrast is known when it is read, T_REACH frames before its labels come out
            no_contrast.extend(blank)
            if index + 1 < len(chunks):
                read.append(reader.submit(_read_window, movie, *chunks[index + 1][2:], plan.y, plan.x))
            probabilities = step(frames)
            del frames
            report(progress, index + 1, len(chunks))
            if last == first:  # the stream's first chunks: frames before the movie's
                continue
            output_start = input_start - T_REACH - PAD  # movie frame of the chunk's first output
            scores = probabilities[(slice(None), slice(first - output_start, last - output_start)) + region[2:]]
            labels = np.argmax(scores, axis=0).astype(np.int8)
            scores = np.moveaxis(scores, 0, 1).astype(np.float16) if return_scores else None
            yield SegmentedBlock(first, last, labels, scores, tuple(t for t in no_contrast if first <= t < last))
    if no_contrast:
        log.warning(describe_no_contrast(no_contrast, n_frames))


def _predict_block(runner, frames, keep, plan, progress) -> np.ndarray:
    """Sum of the kept class probabilities of every y/x window over one block of frames.

    Returns float32 ``[3, kept frames, padded y, padded x]``; ``progress(n)`` after each network call.
    """
    windows = [(ys, xs) for ys in plan.y.starts for xs in plan.x.starts]
    (cy, cx), (sy, sx) = (plan.y.crop, plan.x.crop), (plan.y.size, plan.x.size)
    sums = np.zeros((3, keep.stop - keep.start, plan.y.length, plan.x.length), np.float32)
    kept = (keep, slice(cy, sy - cy), slice(cx, sx - cx))
    for batch_start in range(0, len(windows), plan.batch):
        batch = windows[batch_start:batch_start + plan.batch]
        if len(batch) == 1:
            (ys, xs), = batch
            patches = frames[None, None, :, ys:ys + sy, xs:xs + sx]
        else:
            patches = np.stack([frames[:, ys:ys + sy, xs:xs + sx] for ys, xs in batch])[:, None]
        probabilities = runner(np.ascontiguousarray(patches), kept)
        for (ys, xs), patch in zip(batch, probabilities):
            sums[:, :, ys + cy:ys + sy - cy, xs + cx:xs + sx - cx] += patch
        progress(batch_start + len(batch))
    return sums


def segment_movie(movie, model, *, patch_size: int = 160, precision: str = "auto", backend: str = "auto",
                  tiling: str | None = None, device=None, return_scores: bool = False, progress=None,
                  max_memory=None):
    """Segment a movie into background (0), bright spots (1) and exocytosis events (2).

    Parameters
    ----------
    movie : array-like, shape (t, y, x)
        Raw movie: a NumPy array, an h5py dataset, a :class:`~exodeepfinder.io.movie.TiffFolder`...
        It is read block of frames by block of frames.
    model : UNet or UNetWeights
        The network (see :func:`exodeepfinder.model.weights.load_model`); a UNetWeights (where
        PyTorch is not installed) runs with the OpenVINO backend.
    patch_size : int
        y/x window size of the reference tiling (multiple of 4, at least 56, default 160);
        the fast tiling chooses its own windows.
    precision : {"auto", "fast", "fp32", "int8"}
        ``"fp32"``: float32 arithmetic, and by default the reference tiling: the reference's
        labels. ``"fast"``: bfloat16 where the hardware computes it natively (CPUs with AMX or
        AVX512-BF16; GPUs, float16 where bfloat16 is missing), float32 elsewhere. ``"int8"``:
        8-bit integer convolutions (OpenVINO on the CPU only; the network is quantized once per
        weights and cached, :mod:`~exodeepfinder.inference.quantize`). ``"auto"`` (default):
        int8 on a CPU with OpenVINO, else fast
        (:func:`~exodeepfinder.inference.backends.resolve_precision`).
    backend : {"auto", "torch", "openvino"}
        Inference engine: ``"auto"`` (default) runs OpenVINO on a CPU and PyTorch on a GPU;
        ``"torch"`` is the PyTorch reference path. See :mod:`exodeepfinder.inference.backends`.
    tiling : {"fast", "reference"}, optional
        ``"reference"``: the reference ExoDeepFinder windows (its labels exactly in ``fp32``).
        ``"fast"``: the whole frame (or the fewest windows that fit ``max_memory``) with
        shorter margins along t: about half the computation, the same events found; with
        OpenVINO, a long movie of large frames is instead streamed through the network with no
        margins (:mod:`~exodeepfinder.inference.streaming`) where that computes less.
        Default: ``"reference"`` with ``precision="fp32"``, ``"fast"`` otherwise.
    device : torch.device or str, optional
        Where to run the network (default: where ``model`` is).
    return_scores : bool
        Also return the class probabilities.
    progress : callable, optional
        ``progress(done, total)`` over network windows; return False to cancel.
    max_memory : int or str, optional
        Peak memory of the process while it segments, in bytes or as a size such as ``"2GB"``
        (see :func:`~exodeepfinder.inference.memory.parse_memory`). Default: 3.5 GiB, or 60%
        of the available RAM when that is less. A lower budget means smaller windows: slower,
        and (fast tiling) possibly a few voxels labelled differently.

    Returns
    -------
    labels : ndarray of int8, shape (t, y, x)
    scores : ndarray of float16, shape (t, 3, y, x)
        Only with ``return_scores``: probabilities of background, spot and event, averaged
        over overlapping windows.
    """
    n_frames, height, width = movie.shape
    labels = np.empty((n_frames, height, width), np.int8)
    scores = np.empty((n_frames, 3, height, width), np.float16) if return_scores else None
    for block in iter_segment(movie, model, patch_size=patch_size, precision=precision, backend=backend,
                              tiling=tiling, device=device, return_scores=return_scores, progress=progress,
                              max_memory=max_memory):
        labels[block.start:block.stop] = block.labels
        if return_scores:
            scores[block.start:block.stop] = block.scores
    return (labels, scores) if return_scores else labels

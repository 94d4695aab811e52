"""Where the windows of a tiled segmentation lie: y/x windows, blocks of frames, and the plan that sizes them.

All positions are in the coordinates of the movie zero-padded by :data:`PAD` voxels on
every side, as in the reference ExoDeepFinder. A window is the part of the padded movie
given to the network; only its central part (``crop`` voxels less on each side) is kept.

Two tilings (:data:`TILINGS`):

``"reference"``
    The reference y/x windows exactly (patches of ``patch_size``, step ``patch_size - 54``,
    the last one aligned to the end, ``PAD`` voxels cropped, overlaps averaged). The network
    pools by 2 twice in y and x, so its output depends on where a window starts modulo 4 and
    on its borders (its reach in y and x, ~35 px, exceeds the 25 px crop): only these windows
    give the reference's labels. Along t the margin is the network's whole reach
    (:data:`T_REACH`), which gives exactly the values of the reference patches.
``"fast"``
    Windows as large as the memory budget allows: the whole padded frame when it fits, else
    the fewest y/x windows (starting on multiples of 4, overlapping by about ``2 * PAD``),
    and blocks of frames whose t margin (:data:`FAST_T_MARGIN`) is shorter than the reach.
    Each pixel of a 400 x 300 frame is computed 1.33 times instead of 2.56 (1.05 in int8, which pads a
    frame it computes whole by :data:`FAST_PAD`). Labels differ
    from the reference tiling's near ties; events found against the simulated truth do not
    (``bench/segment_quality.py``).

With an engine that can stream (OpenVINO: :mod:`exodeepfinder.inference.streaming`), a fast tiling
that holds the whole frame may instead feed the network the movie as a stream of chunks of
frames, each reusing the previous chunk's features: no margin is computed twice, and every
frame has the network's whole reach along t (:func:`stream_chunks`). :func:`plan_tiling` takes
whichever computes fewer voxels.

Blocks of frames all have the same window shape: the frames are split into equal blocks and
the window of the last block is shifted back to end at the movie's end, so one compiled
network serves a whole movie.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Zero padding added on every side of the movie before tiling (reference: 25).
PAD = 25
#: Central part of a reference patch that is kept: ``PAD`` voxels are cropped on each side.
CROP = PAD
#: Reference overlap parameter: patches advance by ``patch_size - OVERLAP + 1``.
OVERLAP = 55
#: Frames the network looks backward/forward in t (12 before, 14 after: 3x3x3 convolutions
#: plus the two size-2 convolutions that look one frame ahead); margins of this size along t
#: make tiled outputs equal to those of untiled ones.
T_REACH = 14
#: Margin along t of the fast tiling (frames of context on each side of a block's kept frames).
#: Events found against the simulated truth are the same as with the exact margin (14): pooled
#: over 6 movies cut into blocks of 20 frames, F1 0.740 vs 0.742 (official weights), 0.986 vs
#: 0.986 (bundled model); 4 frames gave 0.733 (``bench/segment_quality.py``).
FAST_T_MARGIN = 6
#: The tilings accepted by segmentation (``tiling=``).
TILINGS = ("fast", "reference")
#: Smallest y/x window of the fast tiling (it must keep something after cropping ``CROP`` on each side).
MIN_FAST_WINDOW = 72
#: Zero padding on each side of a y/x axis that int8 computes in one window (the whole frame).
#: The reference's 25 px of zeros cost 1.33 computed voxels per pixel of a 400 x 300 frame; 4 px,
#: 1.05. In int8 the events found against the simulated truth stay the same (bundled and official
#: weights); in float32 the official weights found more false events with 4 px (F1 -0.02), so
#: float32 keeps 25 (docs/segment.md, "Border padding").
FAST_PAD = 4


@dataclass(frozen=True)
class AxisTiling:
    """Windows along one axis of the padded movie.

    Attributes
    ----------
    length : int
        Length of the padded axis the windows live in (``n + 2 * PAD``, possibly extended at
        the end so that windows fit).
    size : int
        Window length (the same for every window of this axis).
    starts : tuple of int
        First padded position of each window.
    crop : int
        Voxels dropped at each end of a window; the window ``s`` keeps ``[s + crop, s + size - crop)``.
    offset : int
        Padded position of the movie's first voxel (the zero padding before it).
    """

    length: int
    size: int
    starts: tuple
    crop: int
    offset: int = PAD

    def kept(self, index):
        start = self.starts[index]
        return start + self.crop, start + self.size - self.crop


def reference_axis(n: int, patch_size: int) -> AxisTiling:
    """The reference ExoDeepFinder windows for an axis of ``n`` voxels.

    An axis shorter than a patch is padded with zeros at its end up to ``patch_size``
    (the reference pads the movie the same way; its network only ever sees zeros there).
    """
    length = max(n + 2 * PAD, patch_size)
    step = patch_size - OVERLAP + 1
    starts = list(range(0, length - patch_size, step))
    if not starts or starts[-1] < length - patch_size:
        starts.append(length - patch_size)
    return AxisTiling(length, patch_size, tuple(starts), CROP)


def _round_up(value: float, multiple: int = 4) -> int:
    return int(math.ceil(value / multiple)) * multiple


def fast_axis(n: int, n_windows: int, pad: int = PAD) -> AxisTiling:
    """``n_windows`` equal windows covering an axis of ``n`` voxels (fast tiling).

    One window is the whole axis padded by ``pad`` zeros on each side (``PAD``, or :data:`FAST_PAD`),
    rounded up to a multiple of 4 (the network pools twice by 2). Several windows, on the axis
    padded by ``PAD``, start on multiples of 4, so that all of them see the same pooling grid, and
    overlap by at least ``2 * CROP`` (a seam between windows needs that much context).
    """
    whole = _round_up(n + 2 * pad)
    length = _round_up(n + 2 * PAD)
    size = max(_round_up((length + 2 * CROP * (n_windows - 1)) / n_windows), MIN_FAST_WINDOW)
    if n_windows <= 1 or size >= length or max(_round_up(whole / n_windows), MIN_FAST_WINDOW) >= whole:
        # One window holds the whole axis: no seam to hide, only the border's zeros.
        return AxisTiling(whole, whole, (0,), pad, pad)
    step = (size - 2 * CROP) // 4 * 4
    starts = list(range(0, length - size, step))
    if not starts or starts[-1] < length - size:
        starts.append(length - size)
    return AxisTiling(length, size, tuple(starts), CROP)


def time_blocks(n_frames: int, frames_per_block: int, margin: int = T_REACH):
    """Blocks of frames that tile the movie, each with ``margin`` frames of context on both sides.

    The movie is cut into equal blocks of at most ``frames_per_block`` frames; every window
    has ``frames_per_block' + 2 * margin`` frames, the same for all blocks (the last block's
    window is shifted back so that it ends ``margin`` frames after the movie).

    Yields
    ------
    (first_frame, last_frame, window_start, window_stop)
        The window covers padded frames ``[window_start, window_stop)`` and its new frames are
        movie frames ``[first_frame, last_frame)``, at padded positions ``first_frame + PAD``...
    """
    n_blocks = math.ceil(n_frames / max(frames_per_block, 1))
    kept = math.ceil(n_frames / n_blocks)
    for first in range(0, n_frames, kept):
        last = min(first + kept, n_frames)
        window_stop = last + PAD + margin
        yield first, last, window_stop - kept - 2 * margin, window_stop


def block_frames(n_frames: int, frames_per_block: int) -> int:
    """Kept frames of every window of :func:`time_blocks` (the block length after equalising)."""
    return math.ceil(n_frames / math.ceil(n_frames / max(frames_per_block, 1)))


def stream_chunks(n_frames: int, frames_per_chunk: int, lag: int = T_REACH):
    """Chunks of frames of a streamed segmentation, in order.

    The stream reads the zero-padded movie from ``lag`` frames before its first frame to
    ``lag`` frames after its last, ``frames_per_chunk`` frames per network call; each call
    returns the class probabilities of frames ``lag`` earlier than those it read. The first
    chunks (and the last) may return no movie frame.

    Yields
    ------
    (first_frame, last_frame, input_start, input_stop)
        The call reads padded frames ``[input_start, input_stop)`` (see :data:`PAD`) and
        finishes movie frames ``[first_frame, last_frame)`` (possibly none: ``first == last``),
        which are its outputs ``first_frame + PAD - (input_start - lag)`` onwards.
    """
    start, stop = PAD - lag, PAD + n_frames + lag
    for input_start in range(start, stop, frames_per_chunk):
        output_start = input_start - lag - PAD  # movie frame of the call's first output
        first = min(max(output_start, 0), n_frames)
        last = max(min(output_start + frames_per_chunk, n_frames), first)
        yield first, last, input_start, input_start + frames_per_chunk


def stream_frames(n_frames: int, most: int, lag: int = T_REACH) -> int:
    """Frames per chunk of :func:`stream_chunks` for a movie of ``n_frames`` frames, at most ``most``.

    Every chunk has the same length (one compiled network), so the last one may run past the
    frames the stream needs. The longest chunks within 1 % of the fewest frames computed, and at
    least :data:`MIN_STREAM_FRAMES` (or ``most`` if smaller): fewer calls, little recomputed.
    """
    total = n_frames + 2 * lag
    most = max(int(most), 1)
    lengths = range(min(MIN_STREAM_FRAMES, most), most + 1)
    computed = {n: math.ceil(total / n) * n for n in lengths}
    least = min(computed.values())
    return max(n for n in lengths if computed[n] <= 1.01 * least)


@dataclass(frozen=True)
class TilePlan:
    """How a movie is cut into network windows.

    Attributes
    ----------
    y, x : AxisTiling
        The windows along y and x.
    frames_per_block : int
        Frames finished by one block (the kept frames of each window along t).
    t_margin : int
        Frames of context before and after the kept frames of a window.
    batch : int
        Windows of a block given to the network together.
    input_frame_bytes : float
        Bytes per frame of a block's input, context frames included (see :func:`input_frame_bytes`).
    stream : bool
        The movie is streamed (:func:`stream_chunks`): ``frames_per_block`` frames per network call,
        no margin (``t_margin`` 0), one y/x window.
    state_bytes : float
        Memory the stream keeps between calls (the cached features), for the whole frame.
    window_bytes_per_voxel : float, optional
        Bytes per voxel of a network call when they differ from the engine's usual ones (a stream's).
    """

    y: AxisTiling
    x: AxisTiling
    frames_per_block: int
    t_margin: int
    batch: int
    input_frame_bytes: float = 0.0
    stream: bool = False
    state_bytes: float = 0.0
    window_bytes_per_voxel: float | None = None

    def n_blocks(self, n_frames: int) -> int:
        """Network calls per y/x window for a movie of ``n_frames`` frames (blocks, or chunks of the stream)."""
        frames = n_frames + 2 * T_REACH if self.stream else n_frames
        return math.ceil(frames / self.frames_per_block)

    @property
    def windows_per_block(self) -> int:
        return len(self.y.starts) * len(self.x.starts)

    @property
    def window_shape(self) -> tuple:
        """Shape of one network input: ``(batch, 1, frames, y, x)``."""
        return (self.batch, 1, self.frames_per_block + 2 * self.t_margin, self.y.size, self.x.size)

    @property
    def window_voxels(self) -> int:
        return math.prod(self.window_shape)

    def computed_voxels(self, n_frames: int) -> int:
        """Voxels the network computes for a movie of ``n_frames`` frames."""
        frames = self.frames_per_block + 2 * self.t_margin
        return self.n_blocks(n_frames) * self.windows_per_block * frames * self.y.size * self.x.size

    def describe(self, shape) -> str:
        """How a movie of ``shape`` ``(t, y, x)`` is cut, in words, with its computed voxels per movie voxel."""
        windows = f"{self.y.size} x {self.x.size}"
        if self.stream:
            how = f"the whole {windows} frame streamed in chunks of {self.frames_per_block} frames"
        else:
            count = self.windows_per_block
            how = (("the whole " + windows + " frame" if count == 1 else f"{count} windows of {windows}")
                   + f" in blocks of {self.frames_per_block} frames (+{self.t_margin} of context on each side)")
        return f"{how}: {self.overlap_factors(shape)['computed_per_voxel']:.2f} computed voxels per voxel"

    def overlap_factors(self, shape) -> dict:
        """Where the computed voxels per movie voxel come from, for a movie of ``shape`` ``(t, y, x)``.

        Factors whose product is ``computed_voxels(t) / (t * y * x)``:

        ``padding``
            The zero voxels on each side of the frame (``PAD``, or ``FAST_PAD`` for an axis that int8
            computes in one window), ``(y + 2 pad_y)(x + 2 pad_x) / (y x)``.
        ``pooling_grid``
            The padded frame extended to the window grid (multiples of 4 for the two 2x poolings,
            or of the reference patches).
        ``window_overlap``
            y/x windows overlapping (each window's ``crop`` voxels on each side are computed and dropped).
        ``t_margins``
            Frames of context before and after each block's kept frames, ``(kept + 2 margin) / kept``;
            streamed, the network's reach before the first frame and after the last, ``(t + 2 reach) / t``.
        ``equal_blocks``
            Blocks of equal length: the last window shifted back recomputes frames,
            ``blocks * kept / t`` (streamed: chunks of equal length, ``chunks * frames / (t + 2 reach)``).
        """
        n_frames, height, width = shape
        n_blocks = self.n_blocks(n_frames)
        streamed = n_frames + 2 * T_REACH
        padded = (height + 2 * self.y.offset) * (width + 2 * self.x.offset)
        factors = dict(
            padding=padded / (height * width),
            pooling_grid=self.y.length * self.x.length / padded,
            window_overlap=self.windows_per_block * self.y.size * self.x.size / (self.y.length * self.x.length),
            t_margins=streamed / n_frames if self.stream else
            (self.frames_per_block + 2 * self.t_margin) / self.frames_per_block,
            equal_blocks=n_blocks * self.frames_per_block / (streamed if self.stream else n_frames),
        )
        factors["computed_per_voxel"] = self.computed_voxels(n_frames) / (n_frames * height * width)
        return factors


#: Bytes per movie voxel of the normalisation beyond the raw frames: the float64 copy, the percentile's
#: working copy (float64) and the float32 result.
NORMALISE_BYTES_PER_VOXEL = 8 + 8 + 4


def input_frame_bytes(y_axis: AxisTiling, x_axis: AxisTiling, height: int, width: int, itemsize: int) -> float:
    """Bytes per frame of a block's input: the padded float32 window of the block being computed and of
    the next one, read ahead, plus reading and normalising a frame (raw pixels and the normalisation's
    copies)."""
    return 2 * 4 * y_axis.length * x_axis.length + (itemsize + NORMALISE_BYTES_PER_VOXEL) * height * width


def plan_memory(plan: TilePlan, bytes_per_voxel: float, bytes_per_frame_voxel: float) -> float:
    """Bytes one block of ``plan`` holds: the network's window, the block's padded frames (sums of scores,
    labels), its input (padded windows, read-ahead, normalisation: ``plan.input_frame_bytes``) and, streamed,
    the features kept between calls. ``bytes_per_voxel``: the engine's, unless the plan has its own."""
    block = plan.frames_per_block * plan.y.length * plan.x.length
    frames = plan.frames_per_block + 2 * plan.t_margin
    bytes_per_voxel = plan.window_bytes_per_voxel or bytes_per_voxel
    return (plan.window_voxels * bytes_per_voxel + block * bytes_per_frame_voxel + frames * plan.input_frame_bytes
            + plan.state_bytes)


def plan_tiling(shape, tiling: str, *, patch_size: int = 160, memory: float, bytes_per_voxel: float,
                bytes_per_frame_voxel: float = 40.0, max_window_voxels: int | None = None,
                t_margin: int | None = None, batching: bool = True, input_itemsize: int | None = None,
                border_pad: int = PAD, stream=None) -> TilePlan:
    """Choose the windows of a movie so that a block of frames fits in ``memory`` bytes.

    Parameters
    ----------
    shape : (int, int, int)
        Movie shape ``(frames, height, width)``.
    tiling : {"fast", "reference"}
        See the module docstring.
    patch_size : int
        y/x window size of the reference tiling (unused by the fast tiling).
    memory : float
        Bytes available for one block: the network's working memory and the block's arrays.
    bytes_per_voxel : float
        Bytes per voxel of a network window (activations, input and output).
    bytes_per_frame_voxel : float
        Bytes per voxel of the padded frames of a block (sums of class scores, labels...).
    max_window_voxels : int, optional
        A further limit on the voxels of one network call (e.g. GPU memory).
    t_margin : int, optional
        Frames of context along t (default: :data:`T_REACH` for the reference tiling,
        :data:`FAST_T_MARGIN` for the fast one).
    batching : bool
        Let the reference tiling give several y/x windows of a block to the network at once.
    border_pad : int
        Zeros around the frame of the fast tiling where one window holds a whole axis (``PAD``, the
        reference's, or :data:`FAST_PAD` for int8).
    input_itemsize : int, optional
        Bytes per pixel of the movie: count the block's input too (padded windows, the block read
        ahead, the normalisation's copies: :func:`input_frame_bytes`). None: leave it out.
    stream : (float, float), optional
        The engine can stream the movie (:func:`stream_chunks`), with these bytes per voxel of a
        chunk and bytes per pixel of the features it keeps between calls: the fast tiling then
        streams the whole frame where that computes fewer voxels than blocks of frames (and fits).

    Returns
    -------
    TilePlan
        With at least one kept frame per block even when the budget is smaller than that.
    """
    if tiling not in TILINGS:
        raise ValueError(f"tiling: expected one of {', '.join(TILINGS)}, got {tiling!r}")
    n_frames, height, width = shape
    if t_margin is None:
        t_margin = T_REACH if tiling == "reference" else FAST_T_MARGIN
    max_window_voxels = max_window_voxels or math.inf

    def fitted(y_axis, x_axis, batch_limit):
        """The longest blocks (then the largest batch) of these y/x windows that fit."""
        plane = y_axis.size * x_axis.size
        frame_cost = y_axis.length * x_axis.length * bytes_per_frame_voxel
        inputs = 0.0 if input_itemsize is None else input_frame_bytes(y_axis, x_axis, height, width, input_itemsize)
        free = memory - 2 * t_margin * (plane * bytes_per_voxel + inputs)
        kept = int(min(free // (plane * bytes_per_voxel + frame_cost + inputs),
                       max_window_voxels // plane - 2 * t_margin, n_frames))
        kept = block_frames(n_frames, max(kept, 1))
        windows = len(y_axis.starts) * len(x_axis.starts)
        window = (kept + 2 * t_margin) * plane
        free = memory - kept * y_axis.length * x_axis.length * bytes_per_frame_voxel - (kept + 2 * t_margin) * inputs
        batch = min(windows, batch_limit, free // (window * bytes_per_voxel), max_window_voxels // window)
        return TilePlan(y_axis, x_axis, kept, t_margin, int(max(batch, 1)), inputs)

    if tiling == "reference":
        return fitted(reference_axis(height, patch_size), reference_axis(width, patch_size),
                      math.inf if batching else 1)
    plans = [fitted(fast_axis(height, ny, border_pad), fast_axis(width, nx, border_pad), 1)
             for ny in range(1, 17) for nx in range(1, 17)]
    fitting = [p for p in plans if plan_memory(p, bytes_per_voxel, bytes_per_frame_voxel) <= memory
               and p.window_voxels <= max_window_voxels]
    if stream is not None:
        streamed = _stream_plan(shape, fast_axis(height, 1, border_pad), fast_axis(width, 1, border_pad), memory,
                                stream, bytes_per_frame_voxel, max_window_voxels, input_itemsize)
        if streamed is not None:
            fitting.append(streamed)
    # Least computation (a stream before blocks that compute as much: its frames see the whole reach);
    # among equals, fewer windows (fewer borders inside the frame).
    if not fitting:  # a budget below any plan: the leanest one
        return min(plans, key=lambda p: plan_memory(p, bytes_per_voxel, bytes_per_frame_voxel))
    return min(fitting, key=lambda p: (p.computed_voxels(n_frames), not p.stream, p.windows_per_block))


#: Fewest frames per call of a stream worth planning (below, each call's fixed costs dominate).
MIN_STREAM_FRAMES = 8
#: Most frames per call of a stream. Longer chunks compute no fewer voxels (a stream has no margins to
#: share), they only hold more memory: 250 x 400 x 300 in int8 peaked at 3.05 GiB with chunks of 40 frames.
MAX_STREAM_FRAMES = 16


def _stream_plan(shape, y_axis, x_axis, memory, stream, bytes_per_frame_voxel, max_window_voxels, input_itemsize):
    """The streamed plan of the whole frame (:func:`stream_chunks`) with the most frames per call that fit, or None."""
    n_frames, height, width = shape
    bytes_per_voxel, state_bytes_per_pixel = stream
    plane = y_axis.size * x_axis.size
    inputs = 0.0 if input_itemsize is None else input_frame_bytes(y_axis, x_axis, height, width, input_itemsize)
    state = state_bytes_per_pixel * plane
    per_frame = plane * bytes_per_voxel + y_axis.length * x_axis.length * bytes_per_frame_voxel + inputs
    frames = int(min((memory - state) // per_frame, max_window_voxels // plane, MAX_STREAM_FRAMES,
                     n_frames + 2 * T_REACH))
    if frames < MIN_STREAM_FRAMES:
        return None
    return TilePlan(y_axis, x_axis, stream_frames(n_frames, frames), 0, 1, inputs, True, state, bytes_per_voxel)

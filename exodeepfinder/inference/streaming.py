"""Segmentation as a stream of frames: each chunk reuses the features of the chunk before instead of recomputing margins.

The U-Net never pools along t: along t it is a stack of convolutions, each looking one frame
back and one ahead (3x3x3) or one ahead (2x2x2). A block of frames of the fast tiling therefore
needs context frames on both sides (``t_margin``), computed once for the block before and once
for the block after: on a 520 x 520 frame, where blocks are ~30 frames, that is 40 % more
computation (``TilePlan.overlap_factors``, ``t_margins``).

:func:`stream_graph` rewrites the network's OpenVINO graph (float32 or int8: the quantized
graph is rewritten, not re-quantized) into a stateful one that takes a chunk of ``n`` frames and
keeps, for each convolution, the last frames of its input from the previous call (an OpenVINO
variable, ``ReadValue``/``Assign``; in int8 the frames' 8-bit codes). Each convolution then
computes only new frames ("valid" along t, the kept frames in front), and the output lags the
input by the network's look-ahead (:data:`~exodeepfinder.inference.tiling.T_REACH` frames).
Where the two branches of a skip connection meet with different lags, the earlier one is delayed
by keeping more frames for its convolution.

Every frame is then computed once, with the network's whole reach on both sides: the class
probabilities equal those of one window holding the whole (zero-padded) movie, the reference's
values along t, where the fast tiling's blocks use a shorter margin
(:data:`~exodeepfinder.inference.tiling.FAST_T_MARGIN`).
"""

from __future__ import annotations

import numpy as np

#: Operations that act on each frame on its own (or on no frame: constants); anything else is refused.
_PER_FRAME = {"Add", "Relu", "FakeQuantize", "MaxPool", "Interpolate", "Softmax", "Multiply", "Convert",
              "Subtract", "Result"}
#: Name prefix of the variables (kept frames) of a streaming graph.
CACHE = "cache"


class StreamingError(ValueError):
    """The graph holds an operation that mixes frames in a way :func:`stream_graph` cannot stream."""


def _time_input(op, delays):
    """Indices of ``op``'s inputs that carry frames (computed from the movie)."""
    return [i for i in range(op.get_input_size()) if op.input_value(i).get_node().get_friendly_name() in delays]


def _kernel_t(conv) -> tuple[int, int, int]:
    """(kernel frames, frames padded before, frames padded after) of a Convolution node."""
    weight_shape = conv.input_value(1).get_partial_shape()
    attributes = conv.get_attributes()
    return (weight_shape[2].get_length(), int(attributes["pads_begin"][0]), int(attributes["pads_end"][0]))


def _check_per_frame(op):
    kind = op.get_type_name()
    if kind not in _PER_FRAME:
        raise StreamingError(f"cannot stream a {kind} operation ({op.get_friendly_name()})")
    attributes = op.get_attributes()
    if kind == "MaxPool" and int(attributes["kernel"][0]) != 1:
        raise StreamingError(f"cannot stream a pooling along t ({op.get_friendly_name()})")
    if kind == "Softmax" and int(attributes["axis"]) != 1:
        raise StreamingError(f"cannot stream a softmax over axis {attributes['axis']} ({op.get_friendly_name()})")


def _delays(graph, extra):
    """Lag (frames) of every frame-carrying node of ``graph``; and, for each sum of two branches with different
    lags, ``{convolution name: frames it must be delayed by}`` (the branch's last convolution)."""
    delays, needed = {}, {}
    for op in graph.get_ordered_ops():
        name, kind = op.get_friendly_name(), op.get_type_name()
        if kind == "Parameter":
            delays[name] = 0
            continue
        inputs = _time_input(op, delays)
        if not inputs:
            continue
        lags = [delays[op.input_value(i).get_node().get_friendly_name()] for i in inputs]
        if kind == "Convolution":
            if inputs != [0]:
                raise StreamingError(f"cannot stream convolution weights computed from the movie ({name})")
            after = _kernel_t(op)[2]
            delays[name] = lags[0] + after + extra.get(name, 0)
            continue
        _check_per_frame(op)
        if len(set(lags)) > 1:
            late = max(lags)
            for i, lag in zip(inputs, lags):
                source = op.input_value(i).get_node()
                # per-frame operations between the branch's last convolution and the sum (e.g. a quantizer)
                while source.get_type_name() != "Convolution" and len(_time_input(source, delays)) == 1:
                    source = source.input_value(_time_input(source, delays)[0]).get_node()
                if lag < late:
                    if source.get_type_name() != "Convolution":
                        raise StreamingError(f"cannot align the inputs of {name}: {source.get_friendly_name()} "
                                             "is not a convolution")
                    needed[source.get_friendly_name()] = late - lag
        delays[name] = max(lags)
    return delays, needed


def stream_graph(graph, shape):
    """The streaming version of the U-Net ``graph`` for chunks of ``shape`` ``(frames, y, x)``.

    Parameters
    ----------
    graph : openvino.Model
        The network (:func:`~exodeepfinder.inference.openvino_backend.network_graph`, float32 or
        int8); not modified.
    shape : (int, int, int)
        Frames of a chunk and the y/x size of the window (multiples of 4).

    Returns
    -------
    model : openvino.Model
        Input: a chunk ``float32 [1, 1, frames, y, x]``; output: the class probabilities
        ``[1, 3, frames, y, x]`` of the frames ``lag`` before the chunk's. Its variables
        (``cache<i>``, one per convolution) hold the frames kept between calls: zeros in a new
        infer request or after ``reset_state()``, i.e. zero frames before the first chunk.
    lag : int
        Frames between an input frame and its output: the output of a chunk that starts at
        frame ``s`` is that of frames ``s - lag ...``.

    Raises
    ------
    StreamingError
        If the graph mixes frames other than by convolutions (e.g. pools along t).
    """
    import openvino as ov
    from openvino import opset6
    from openvino import opset13 as ops

    frames, height, width = (int(v) for v in shape)
    graph = graph.clone()
    movie = graph.get_parameters()[0]
    graph.reshape({movie.output(0): [1, 1, frames, height, width]})
    _, extra = _delays(graph, {})
    delays, unresolved = _delays(graph, extra)
    if unresolved:  # a delay added to one branch must not unbalance another sum
        raise StreamingError(f"cannot align the branches at {', '.join(unresolved)}")
    caches, updates = [], []
    for op in list(graph.get_ordered_ops()):
        if op.get_type_name() != "Convolution" or op.get_friendly_name() not in delays:
            continue
        kernel = _kernel_t(op)[0]
        delay = extra.get(op.get_friendly_name(), 0)
        kept = kernel - 1 + delay
        if kept == 0:
            continue
        source = op.input_value(0)
        channels, _, y, x = (source.get_partial_shape()[i].get_length() for i in (1, 2, 3, 4))
        variable = f"{CACHE}{len(caches)}"
        quantizer = source.get_node()
        while quantizer.get_type_name() == "MaxPool":
            quantizer = quantizer.input_value(0).get_node()
        shape = [1, channels, kept, y, x]
        if quantizer.get_type_name() == "FakeQuantize":
            # int8: the cached frames are on the quantizer's grid; keep their 8-bit codes (a quarter of the memory)
            levels = quantizer.get_attributes()["levels"]
            low, high = (quantizer.input_value(i) for i in (3, 4))
            step = ops.divide(ops.subtract(high, low), ops.constant(np.float32(levels - 1)))
            codes = opset6.read_value(variable, ov.Type.u8, shape)
            cache = ops.add(ops.multiply(ops.convert(codes, ov.Type.f32), step), low)
            cache_input = ops.fake_quantize(cache, *(quantizer.input_value(i) for i in range(1, 5)), levels).output(0)
        else:
            cache_input = opset6.read_value(variable, ov.Type.f32, shape).output(0)
            step = None
        joined = ops.concat([cache_input, source], 2)
        update = ops.slice(joined, np.array([frames], np.int64), np.array([frames + kept], np.int64),
                           np.array([1], np.int64), np.array([2], np.int64))
        if step is not None:
            update = ops.convert(ops.round(ops.divide(ops.subtract(update, low), step), "half_to_even"), ov.Type.u8)
        updates.append(ops.assign(update, variable))
        inputs = joined if delay == 0 else ops.slice(
            joined, np.array([0], np.int64), np.array([frames + kernel - 1], np.int64), np.array([1], np.int64),
            np.array([2], np.int64))
        attributes = op.get_attributes()
        valid = ops.convolution(inputs, op.input_value(1), attributes["strides"],
                                [0] + list(attributes["pads_begin"][1:]), [0] + list(attributes["pads_end"][1:]),
                                attributes["dilations"])
        valid.set_friendly_name(op.get_friendly_name() + "/stream")
        for target in op.output(0).get_target_inputs():
            target.replace_source_output(valid.output(0))
        caches.append(variable)
    results = graph.get_results()
    lag = delays[results[0].get_friendly_name()]
    model = ov.Model([results[0]], updates, [movie], "exodeepfinder_unet_stream")
    for index, operation in enumerate(model.get_ordered_ops()):
        if operation.get_type_name() not in ("Parameter", "ReadValue", "Assign"):
            operation.set_friendly_name(f"{operation.get_type_name()}_{index}")
    return model, lag


_supported = None


def stream_supported() -> bool:
    """True if this OpenVINO installation builds and compiles streaming graphs (checked once per process on a
    one-convolution graph); where it does not (an older release), segmentation keeps blocks of frames."""
    global _supported
    if _supported is None:
        try:
            import openvino as ov
            from openvino import opset13 as ops

            from .openvino_runtime import core

            movie = ops.parameter([1, 1, -1, -1, -1], ov.Type.f32)
            weight = ops.constant(np.ones((2, 1, 3, 3, 3), np.float32))
            convolved = ops.convolution(movie, weight, [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1])
            streamed, _ = stream_graph(ov.Model([convolved], [movie]), (4, 8, 8))
            core().compile_model(streamed, "CPU")
            _supported = True
        except Exception:  # noqa: BLE001  (any failure of the installation: fall back to blocks)
            _supported = False
    return _supported


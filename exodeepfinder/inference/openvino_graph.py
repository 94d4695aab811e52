"""The U-Net as an OpenVINO graph built from its weight arrays, with OpenVINO's operation set (no PyTorch).

:func:`unet_graph` computes the function of :class:`~exodeepfinder.model.unet.UNet` (the
Keras network of the reference ExoDeepFinder): 3D convolutions with Keras 'same' padding (1
voxel on each side for the 3x3x3 kernels; 0 before and 1 after for the 2x2x2 kernels), ReLU,
max pooling and nearest-neighbour upsampling by 2 in y and x only, and a softmax over the
classes. Building it takes milliseconds, where converting the PyTorch module
(``openvino.convert_model``) takes seconds and needs PyTorch.

The graph never concatenates the upsampled features with the skip connections: the
convolution after each concatenation is split into two convolutions (one per input, each with
its part of the kernel) whose outputs are added. Same function, but the largest
full-resolution buffer is never allocated (20% of the memory per voxel).
"""

from __future__ import annotations

import numpy as np

from ..model.arrays import CONV_LAYERS

#: Input of the graph: ``[batch, 1, t, y, x]``, every dimension but the channel dynamic.
INPUT_SHAPE = [-1, 1, -1, -1, -1]
#: Convolutions that follow a concatenation ``[upsampled, skip]`` (indices into CONV_LAYERS).
_AFTER_CONCATENATION = (9, 12)


def _padding(kernel_size: int) -> tuple[list[int], list[int]]:
    """Keras 'same' padding of a kernel of ``kernel_size``: (k - 1) // 2 before, the rest after."""
    before = (kernel_size - 1) // 2
    return [before] * 3, [kernel_size - 1 - before] * 3


def unet_graph(convolutions, softmax: bool = True):
    """The U-Net of these weights as an ``openvino.Model`` with a dynamic ``[batch, 1, t, y, x]`` input.

    Parameters
    ----------
    convolutions : list of (weight, bias)
        Per convolution in :data:`~exodeepfinder.model.arrays.CONV_LAYERS` order: weight
        float32 ``[out, in, kt, ky, kx]``, bias float32 ``[out]``
        (:func:`~exodeepfinder.model.arrays.unet_arrays`).
    softmax : bool
        Output class probabilities (True) or logits.

    Returns
    -------
    openvino.Model
        Output float32 ``[batch, 3, t, y, x]``; y and x of the input must be multiples of 4.
    """
    import openvino as ov
    from openvino import opset13 as ops

    if len(convolutions) != len(CONV_LAYERS):
        raise ValueError(f"convolutions: expected {len(CONV_LAYERS)} (weight, bias) pairs, got {len(convolutions)}")
    weights = [np.ascontiguousarray(w, np.float32) for w, _ in convolutions]
    biases = [ops.constant(np.ascontiguousarray(b, np.float32).reshape(1, -1, 1, 1, 1)) for _, b in convolutions]

    def convolve(x, weight):
        begin, end = _padding(weight.shape[-1])
        return ops.convolution(x, ops.constant(weight), [1, 1, 1], begin, end, [1, 1, 1])

    def conv(index, x, relu=True):
        out = ops.add(convolve(x, weights[index]), biases[index])
        return ops.relu(out) if relu else out

    def concat_conv(index, x, skip):
        """``conv(concat([x, skip]))`` as ``conv_x(x) + conv_skip(skip)``: no concatenated buffer."""
        n = x.get_output_partial_shape(0)[1].get_length()
        weight = weights[index]
        out = ops.add(convolve(x, np.ascontiguousarray(weight[:, :n])), biases[index])
        return ops.relu(ops.add(out, convolve(skip, np.ascontiguousarray(weight[:, n:]))))

    def pool(x):
        return ops.max_pool(x, [1, 2, 2], [1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 2, 2]).output(0)

    def upsample(x):
        # nearest, asymmetric + floor: every voxel repeated twice in y and in x, as Keras' UpSampling3D
        return ops.interpolate(x, np.array([2.0, 2.0], np.float32), mode="nearest", shape_calculation_mode="scales",
                               coordinate_transformation_mode="asymmetric", nearest_mode="floor",
                               axes=np.array([3, 4], np.int64))

    movie = ops.parameter(ov.PartialShape(INPUT_SHAPE), ov.Type.f32, name="movie")
    x = conv(1, conv(0, movie))
    skip_a = x
    x = conv(3, conv(2, pool(x)))
    skip_b = x
    x = pool(x)
    for index in range(4, 8):
        x = conv(index, x)
    x = concat_conv(9, conv(8, upsample(x)), skip_b)
    x = conv(10, x)
    x = concat_conv(12, conv(11, upsample(x)), skip_a)
    x = conv(13, x)
    x = conv(14, x, relu=False)
    if softmax:
        x = ops.softmax(x, 1)
    x.output(0).set_names({"probabilities" if softmax else "logits"})
    graph = ov.Model([x], [movie], "exodeepfinder_unet")
    # OpenVINO names unnamed operations from a process-wide counter, and its compiled-blob cache
    # is keyed by a hash of the graph that includes the names: name them by their place instead,
    # so that the same weights find their compiled blob again (after clear_cache, in a new process)
    for index, operation in enumerate(graph.get_ordered_ops()):
        operation.set_friendly_name(f"{operation.get_type_name()}_{index}")
    return graph

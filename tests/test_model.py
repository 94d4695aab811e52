"""The U-Net and its Keras weights, checked against an independent NumPy computation."""

import h5py
import numpy as np
import pytest
import torch

from exodeepfinder.errors import InputError
from exodeepfinder.model import UNet, load_keras_weights, save_keras_weights
from exodeepfinder.model.unet import CONV_LAYERS


def keras_kernels(path):
    """(kernel, bias) per convolution straight from the official file, in its layer_names order."""
    with h5py.File(path, "r") as handle:
        group = handle["model_weights"]
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["layer_names"]]
        names = [n for n in names if n.startswith("conv3d")]
        return [(group[n][n]["kernel:0"][()], group[n][n]["bias:0"][()]) for n in names]


def conv_same(x, kernel, bias, even_pad_before=0):
    """Keras Conv3D, 'same' padding, channels last: x (t, y, x, c), kernel (kt, ky, kx, in, out).

    'same' pads (k - 1) // 2 before and the rest after: for k = 2 that is 0 before and 1 after.
    """
    k = kernel.shape[0]
    before = (k - 1) // 2 if k % 2 else even_pad_before
    after = k - 1 - before
    padded = np.pad(x, [(before, after)] * 3 + [(0, 0)])
    t, h, w, _ = x.shape
    out = np.zeros((t, h, w, kernel.shape[-1]), np.float64)
    for dt in range(k):
        for dy in range(k):
            for dx in range(k):
                out += padded[dt:dt + t, dy:dy + h, dx:dx + w] @ kernel[dt, dy, dx]
    return out + bias


def unet_numpy(x, layers, even_pad_before=0):
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    pool = lambda a: a.reshape(a.shape[0], a.shape[1] // 2, 2, a.shape[2] // 2, 2, -1).max(axis=(2, 4))  # noqa: E731
    up = lambda a: a.repeat(2, axis=1).repeat(2, axis=2)  # noqa: E731
    conv = lambda i, a: relu(conv_same(a, *layers[i], even_pad_before))  # noqa: E731
    a = conv(1, conv(0, x))
    skip_a = a
    b = conv(3, conv(2, pool(a)))
    skip_b = b
    c = pool(b)
    for i in range(4, 8):
        c = conv(i, c)
    b = np.concatenate([conv(8, up(c)), skip_b], axis=-1)
    b = conv(10, conv(9, b))
    a = np.concatenate([conv(11, up(b)), skip_a], axis=-1)
    a = conv(13, conv(12, a))
    logits = conv_same(a, *layers[14])
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def tiny_input():
    rng = np.random.default_rng(0)
    return rng.random((5, 8, 12)).astype(np.float32)


def run_torch(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)[None, None]).numpy()[0].transpose(1, 2, 3, 0)


def test_official_weights_match_independent_numpy_unet(official_weights, tiny_input):
    expected = unet_numpy(tiny_input[..., None].astype(np.float64), keras_kernels(official_weights))
    model = load_keras_weights(UNet(), official_weights).eval()
    got = run_torch(model, tiny_input)
    assert got.shape == expected.shape == (5, 8, 12, 3)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    # the check has teeth: padding the size-2 convolutions before instead of after gives other numbers
    wrong = unet_numpy(tiny_input[..., None].astype(np.float64), keras_kernels(official_weights), 1)
    assert np.abs(wrong - expected).max() > 1e-3


def keras3_layout(source, target):
    """Rewrite the official file in the Keras 3 ``model.save('*.h5')`` layout (no ':0', new names)."""
    layers = keras_kernels(source)
    with h5py.File(target, "w") as handle:
        group = handle.create_group("model_weights")
        names = ["input_layer"] + ["conv3d" if i == 0 else f"conv3d_{i}" for i in range(len(layers))]
        group.attrs["layer_names"] = np.array([n.encode() for n in names])
        group.create_group("input_layer")
        for name, (kernel, bias) in zip(names[1:], layers):
            inner = group.create_group(name).create_group(name)
            inner["kernel"] = kernel
            inner["bias"] = bias


def test_keras3_layout_loads_the_same(official_weights, tmp_path, tiny_input):
    keras3_layout(official_weights, tmp_path / "keras3.h5")
    a = load_keras_weights(UNet(), official_weights).eval()
    b = load_keras_weights(UNet(), tmp_path / "keras3.h5").eval()
    np.testing.assert_array_equal(run_torch(a, tiny_input), run_torch(b, tiny_input))


def test_saved_weights_reload_and_keep_reference_layout(official_weights, tmp_path, tiny_input):
    model = load_keras_weights(UNet(), official_weights).eval()
    path = save_keras_weights(model, tmp_path / "net_weights_FINAL.h5")
    assert [(k.shape, b.shape) for k, b in keras_kernels(path)] == \
        [(k.shape, b.shape) for k, b in keras_kernels(official_weights)]
    reloaded = load_keras_weights(UNet(), path).eval()
    np.testing.assert_array_equal(run_torch(model, tiny_input), run_torch(reloaded, tiny_input))


def test_wrong_files_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="weights file not found"):
        load_keras_weights(UNet(), tmp_path / "none.h5")
    (tmp_path / "text.h5").write_text("no")
    with pytest.raises(InputError, match="not a readable HDF5"):
        load_keras_weights(UNet(), tmp_path / "text.h5")
    with h5py.File(tmp_path / "small.h5", "w") as handle:
        inner = handle.create_group("model_weights").create_group("conv3d_1").create_group("conv3d_1")
        inner["kernel:0"] = np.zeros((3, 3, 3, 1, 32), np.float32)
        inner["bias:0"] = np.zeros(32, np.float32)
    with pytest.raises(InputError, match=f"1 convolution layers, an ExoDeepFinder U-Net has {len(CONV_LAYERS)}"):
        load_keras_weights(UNet(), tmp_path / "small.h5")


COMPACT = (16, 24, 32)


def test_compact_network_round_trips_through_the_one_weights_format(tmp_path, tiny_input):
    from exodeepfinder.model.arrays import UNetWeights, conv_layers, flops_per_voxel
    from exodeepfinder.model.keras_weights import load_keras_unet, read_unet_arrays, read_unet_widths
    from exodeepfinder.model.weights import load_model

    torch.manual_seed(3)
    model = UNet(widths=COMPACT).eval()
    assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in model.convs] == list(conv_layers(COMPACT))
    path = save_keras_weights(model, tmp_path / "compact.h5")
    assert read_unet_widths(path) == COMPACT
    assert UNetWeights(read_unet_arrays(path)).widths == COMPACT
    reloaded = load_keras_unet(path, softmax=True).eval()
    assert reloaded.widths == COMPACT
    np.testing.assert_array_equal(run_torch(model, tiny_input), run_torch(reloaded, tiny_input))
    loaded = load_model(path, device="cpu")  # the path every command takes
    assert loaded.widths == COMPACT
    np.testing.assert_array_equal(run_torch(model, tiny_input), run_torch(loaded, tiny_input))
    with pytest.raises(InputError, match=r"widths \(16, 24, 32\), the network to load it into has \(32, 48, 64\)"):
        load_keras_weights(UNet(), path)
    # halving every width divides the FLOPs by about 4
    assert flops_per_voxel(COMPACT) == pytest.approx(flops_per_voxel() / 4, rel=0.01)
    assert flops_per_voxel(COMPACT) == pytest.approx(0.1283e6, rel=1e-3)


def test_compact_flops_count_its_convolutions():
    from torch.utils.flop_counter import FlopCounterMode

    from exodeepfinder.model.arrays import flops_per_voxel

    network = UNet(widths=COMPACT).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, 1, 8, 32, 32))
    assert flops_per_voxel(COMPACT) == counter.get_total_flops() / (8 * 32 * 32)


def test_inconsistent_widths_are_refused_in_one_line(tmp_path):
    model = UNet(widths=COMPACT)
    path = save_keras_weights(model, tmp_path / "compact.h5")
    with h5py.File(path, "r+") as handle:  # convolution 10 made for a wider level 2
        inner = handle["model_weights/conv3d_10/conv3d_10"]
        del inner["kernel:0"]
        inner["kernel:0"] = np.zeros((3, 3, 3, 56, 30), np.float32)
    with pytest.raises(InputError) as error:
        load_keras_weights(UNet(widths=COMPACT), path)
    message = str(error.value)
    assert message.startswith(f"{path}: convolution 10 has kernel shape (3, 3, 3, 56, 30), expected (3, 3, 3, 56, 24) "
                              "for the widths (16, 24, 32)") and "\n" not in message
    with h5py.File(path, "r+") as handle:  # a first convolution wider than any U-Net this reads
        inner = handle["model_weights/conv3d_1/conv3d_1"]
        del inner["kernel:0"]
        inner["kernel:0"] = np.zeros((3, 3, 3, 1, 1000), np.float32)
    with pytest.raises(InputError,
                       match=r"convolution 1 has kernel shape .*, expected \(k, k, k, in, out\) with 1 to 256 output"):
        load_keras_weights(UNet(widths=COMPACT), path)


def test_bioimageio_architecture_rebuilds_a_compact_network():
    """The bioimage.io package names the widths of a compact network (the reference network's kwargs unchanged)."""
    from exodeepfinder.model.bioimageio import _architecture_kwargs

    assert _architecture_kwargs(UNet()) == {"softmax": True}
    model = UNet(widths=COMPACT)
    rebuilt = UNet(**_architecture_kwargs(model))
    rebuilt.load_state_dict(model.state_dict())  # strict: the same layers and shapes
    assert rebuilt.widths == COMPACT

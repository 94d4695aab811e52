"""Export the U-Net as a bioimage.io model package (model description spec 0.5).

The package (a zip) holds the network twice, as a PyTorch state dict with the architecture's
source file (:mod:`exodeepfinder.model.unet`, which needs only PyTorch) and as TorchScript, so
that bioimage.io tools (``bioimageio.core``, the bioimage.io website, deepImageJ...) run it
without this package. It also holds a test input (a small simulated movie) with the model's
output for it, the per-frame percentile normalisation written as the spec's ``scale_range``
preprocessing, documentation, a cover image and the citation of the ExoDeepFinder paper.

Check a package with ``bioimageio test OUTPUT.zip`` (bioimageio.core). Needs the optional
dependencies ``bioimageio.spec`` (export) and ``bioimageio.core`` (test):
``pip install 'exodeepfinder-torch[bioimageio]'``.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import re
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_output
from ..progress import report
from .arrays import DEFAULT_WIDTHS, model_widths

INSTALL_HINT = "pip install 'exodeepfinder-torch[bioimageio]'"

#: Shape ``(t, y, x)`` and seed of the simulated movie stored as the package's test input.
TEST_SHAPE = (32, 64, 64)
TEST_SEED = 0
#: Objects of the test movie (enough of each kind to show what the model separates).
TEST_SCENE = dict(n_events=3, n_spots=8, n_flashes=1, n_flickers=1, n_moving=1)

#: Valid input sizes declared in the package: ``min + n * step`` frames and pixels. The network
#: pools y and x twice (multiples of 4) and never pools time; the minima keep some context.
MIN_FRAMES, FRAME_STEP = 8, 1
MIN_PIXELS, PIXEL_STEP = 16, 4

#: Sampling of the movies the model was made for (ExoDeepFinder's TIRF data).
PIXEL_SIZE_UM = 0.16
FRAME_INTERVAL_S = 0.3

#: Percentiles of the per-frame normalisation (see exodeepfinder.inference.normalize).
PERCENTILES = (1.0, 99.0)

CLASS_NAMES = ("background", "bright_spot", "event")
DOI = "10.1371/journal.pcbi.1013556"
CITATION = "Lachuer, Moebel et al. (2025). ExoDeepFinder. PLOS Computational Biology."
LICENSE = "GPL-3.0-or-later"
DEFAULT_NAME = "ExoDeepFinder exocytosis detector"
DEFAULT_AUTHORS = ("exodeepfinder contributors",)
TAGS = ("exodeepfinder", "deepfinder", "exocytosis", "tirf", "vesicles", "fluorescence-light-microscopy",
        "2d-t", "cell-membrane", "unet", "3d-unet", "pytorch", "semantic-segmentation", "object-detection")

_FILES = dict(architecture="unet.py", state_dict="exodeepfinder_unet_state_dict.pt",
              torchscript="exodeepfinder_unet_torchscript.pt", test_input="test_input.npy",
              test_output="test_output.npy", sample_input="sample_input.tif", sample_output="sample_output.tif",
              cover="cover.png", documentation="README.md")


def bioimageio_spec():
    """The ``bioimageio.spec.model.v0_5`` module, checked to work with the installed pydantic.

    Raises
    ------
    ImportError
        If bioimageio.spec is missing, or cannot write model descriptions with the installed
        pydantic (bioimageio.spec 0.5.12 with pydantic 2.14 or later).
    """
    try:
        import bioimageio.spec
        from bioimageio.spec import ValidationContext
        from bioimageio.spec.model import v0_5
    except ImportError as err:
        raise ImportError(f"exporting to bioimage.io needs bioimageio.spec ({err}): {INSTALL_HINT}") from None
    # bioimageio.spec 0.5.12 (the version bioimageio.core 0.11 requires) calls pydantic's
    # serializer handler as handler(value, info), which pydantic-core 2.50 (pydantic 2.14)
    # rejects: every model description then fails to save and to load. A weights entry is the
    # smallest description that takes that path.
    with ValidationContext(perform_io_checks=False):
        entry = v0_5.TorchscriptWeightsDescr(source=Path("weights.pt"), pytorch_version=v0_5.Version("2.0"))
        try:
            entry.model_dump(mode="json")
        except Exception as err:  # pydantic's serialization error, whose type varies across versions
            import pydantic

            raise ImportError(f"bioimageio.spec {bioimageio.spec.__version__} cannot write model descriptions "
                              f"with pydantic {pydantic.VERSION} ({type(err).__name__}); install "
                              "pydantic<2.14 or a bioimageio.spec that supports it: "
                              "pip install 'pydantic<2.14'") from None
    return v0_5


def check_standalone(source: str) -> None:
    """Raise RuntimeError if Python ``source`` imports anything but PyTorch.

    The architecture file of a package is imported alone, outside this package.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] if node.level == 0 else ["." * node.level + (node.module or "")]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            if module.split(".")[0] not in ("torch", "__future__"):
                raise RuntimeError(f"the architecture file imports {module!r}: the architecture file of a "
                                   "bioimage.io package may only import torch")


def architecture_source() -> str:
    """The source of :mod:`exodeepfinder.model.unet`, shipped in the package to rebuild the network."""
    from . import unet

    source = inspect.getsource(unet)
    check_standalone(source)
    return source


def simulate_test_movie():
    """The :class:`~exodeepfinder.simulation.Simulation` whose movie is the package's test input.

    Shape :data:`TEST_SHAPE`, seed :data:`TEST_SEED`, objects :data:`TEST_SCENE`.
    """
    from ..simulation import simulate_movie

    return simulate_movie(TEST_SHAPE, seed=TEST_SEED, **TEST_SCENE)


def _probabilities(model, movie) -> np.ndarray:
    """The class probabilities ``(1, 3, t, y, x)`` of a CPU float32 ``model`` for a whole ``(t, y, x)`` movie.

    The movie is normalised frame by frame (1st percentile to 0, 99th to 1) and run in one piece,
    as a bioimage.io tool runs the package (no tiling, no margins).
    """
    import torch

    from .normalize import normalize_frames

    with torch.no_grad():
        return model(torch.from_numpy(normalize_frames(movie))[None, None]).numpy()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _events_in(probabilities: np.ndarray):
    from ..events import cluster_events

    scores = probabilities[0].transpose(1, 0, 2, 3)  # (t, 3, y, x)
    return cluster_events(probabilities[0].argmax(0), 5, scores=scores, min_size=10)


def _cover(movie: np.ndarray, probabilities: np.ndarray, events, path: Path) -> None:
    """Cover image (2:1): a frame with the detected events circled, and the event probability in it."""
    from matplotlib.figure import Figure

    event_probability = probabilities[0, 2]
    if len(events):
        frame = int(round(events.sort_values("score", ascending=False)["t"].iloc[0]))
    else:
        frame = int(event_probability.reshape(len(event_probability), -1).max(1).argmax())
    nearby = events[(events["t"] - frame).abs() <= 2] if len(events) else events
    figure = Figure(figsize=(8, 4), dpi=100)
    left, right = figure.subplots(1, 2)
    low, high = np.percentile(movie[frame], (1, 99.8))
    left.imshow(movie[frame], cmap="gray", vmin=low, vmax=max(high, low + 1), interpolation="nearest")
    left.set_title(f"TIRF frame {frame}: {len(nearby)} detected exocytosis event{'' if len(nearby) == 1 else 's'}",
                   fontsize=10)
    right.imshow(event_probability[frame], cmap="magma", vmin=0, vmax=1, interpolation="nearest")
    right.set_title("event probability (ExoDeepFinder U-Net)", fontsize=10)
    for axes in (left, right):
        axes.scatter(nearby["x"], nearby["y"], s=700, facecolors="none", edgecolors="cyan", linewidths=1.5)
        axes.set_axis_off()
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.92, wspace=0.04)
    figure.savefig(path)


def _documentation(*, name: str, weights_path: Path, weights_source: str, weights_sha256: str,
                   test_summary: str) -> str:
    """The package's README.md; for the bundled model it ends with the model card."""
    from .download import OFFICIAL_SHA256
    from .weights import BUNDLED_WEIGHTS

    card = BUNDLED_WEIGHTS.parent / "MODEL_CARD.md"
    bundled = BUNDLED_WEIGHTS.is_file() and weights_sha256 == _sha256(BUNDLED_WEIGHTS)
    if bundled:
        origin = ("the default model bundled with the exodeepfinder package: the official ExoDeepFinder "
                  "weights fine-tuned on simulated TIRF movies (its model card follows below)")
    elif weights_sha256 == OFFICIAL_SHA256:
        origin = ("the official ExoDeepFinder weights (`net_weights_FINAL.h5`), trained by the ExoDeepFinder "
                  "authors on expert-annotated TIRF movies (Zenodo 10.5281/zenodo.11204932)")
    else:
        origin = f"the weights file `{weights_path.name}` ({weights_source})"
    nl = "\n"
    text = f"""\
    # {name}

    ExoDeepFinder (Lachuer, Moebel et al., PLOS Comput Biol 2025, doi:{DOI}) detects exocytosis
    events in TIRF microscopy movies (2D + time) with a 3D U-Net. This package holds the U-Net of
    the PyTorch re-implementation `exodeepfinder`, exported with `exodeepfinder export-bioimageio`.

    Weights: {origin}; the Keras HDF5 file had sha256 `{weights_sha256}`.

    ## What it does

    The network labels every voxel of a movie as background, bright spot (docked vesicle or other
    bright object) or exocytosis event. It treats the movie as a volume: it convolves over time as
    well as over y and x, and it pools and upsamples only y and x.

    - **Input** `raw`: one movie, axes `batch, channel, time, y, x` (one channel), camera counts.
      At least {MIN_FRAMES} frames; height and width multiples of {PIXEL_STEP}, at least {MIN_PIXELS} (crop or pad
      other movies).
      Made for TIRF movies of about {PIXEL_SIZE_UM * 1000:.0f} nm pixels and {FRAME_INTERVAL_S} s per frame.
    - **Preprocessing** (`scale_range`, axes `y, x`): each frame on its own, the 1st percentile
      becomes 0 and the 99th becomes 1.
    - **Output** `probabilities`: axes `batch, channel, time, y, x` with the 3 channels
      `{", ".join(CLASS_NAMES)}`: class probabilities (softmax), same time, y, x as the input.
      The label map is the channel of highest probability.

    Events are the clusters of event voxels: `exodeepfinder` finds them with mean shift (radius 5
    voxels) and measures each one in the movie (`exodeepfinder detect`). On whole movies
    `exodeepfinder` runs the network on overlapping 160-voxel cubes, padding the movie with 25 zero
    voxels and keeping the centre of each cube; a tool that tiles the movie should also let tiles
    overlap by about 25 voxels, since the predictions near a tile's edges are less reliable.

    ## Validation

    The test input is a simulated TIRF movie of {" x ".join(map(str, TEST_SHAPE))} (frames x pixels) made by
    `exodeepfinder.simulation.simulate_movie` (seed {TEST_SEED}), with fusion events, docked vesicles, a
    one-frame flash, a flickering and a moving spot, cell background, photobleaching and camera noise.
    The test output is the model's output for it. {test_summary}

    To validate the model on your own movies, annotate the events of a few unseen movies and compare
    the detected events with yours: `exodeepfinder evaluate` matches events one to one within
    5 voxels in (t, y, x) and reports precision, recall and F1.

    ## Use

    With `bioimageio.core`: `bioimageio predict` (or `bioimageio.core.predict` in Python) on a
    movie of shape `(1, 1, t, y, x)` with y and x multiples of 4. With the exodeepfinder package,
    which tiles movies of any size and finds the events: `exodeepfinder detect movie.h5`.

    ## Citation

    {CITATION} doi:{DOI}

    ## Licence

    {LICENSE}
    """
    text = textwrap.dedent(text)
    if bundled and card.is_file():
        # the model card becomes a section of this page: its headings go one level down
        card_text = "".join("#" + line if line.startswith("#") else line
                            for line in card.read_text(encoding="utf-8").splitlines(keepends=True))
        text += nl + "---" + nl + nl + card_text
    return text


def export_bioimageio(output, weights=None, *, name: str = DEFAULT_NAME, authors=DEFAULT_AUTHORS,
                      overwrite: bool = False, progress=None) -> Path:
    """Write the U-Net with ``weights`` as a bioimage.io model package (zip, spec 0.5).

    Parameters
    ----------
    output : str or Path
        The package to write, a ``.zip`` file. Written atomically: on any error no file is left.
    weights : str or Path, optional
        A Keras-layout weights file (``.h5``), ``"bundled"``, ``"official"`` or None for the
        default choice (see :func:`exodeepfinder.model.weights.resolve_weights`).
    name : str
        Name of the model on bioimage.io (letters, digits, spaces, ``_+-()``; 5 to 128 characters).
    authors : sequence of str
        Names of the people who made the package.
    overwrite : bool
        Replace ``output`` if it exists (otherwise an existing file is an error).
    progress : callable, optional
        ``progress(done, total)`` over the export steps; returning False cancels.

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    InputError
        If ``output`` exists (without ``overwrite``) or is not a ``.zip``, or the weights are
        missing or not ExoDeepFinder U-Net weights.
    ImportError
        If bioimageio.spec is not installed or does not work with the installed pydantic
        (see :func:`bioimageio_spec`).
    """
    output = Path(output)
    if output.suffix.lower() != ".zip":
        raise InputError(f"{output}: output must be a .zip file (a bioimage.io package)")
    if output.exists() and not overwrite:
        raise InputError(f"{output}: already exists (pass overwrite=True to replace it)")
    if not re.fullmatch(r"[A-Za-z0-9_+\- ()]{5,128}", str(name)):
        raise InputError(f"name: {name!r}: use 5 to 128 letters, digits, spaces or _+-()")
    authors = [str(a) for a in ([authors] if isinstance(authors, str) else authors)]
    if not authors or any(not a.strip() or "/" in a or "\\" in a for a in authors):
        raise InputError(f"authors: {authors!r}: give at least one name, without slashes")
    from ..events import match_events
    from .weights import load_model, require_torch

    require_torch("export_bioimageio")  # the package holds PyTorch weights, checked by running them
    steps = 5
    report(progress, 0, steps)
    model = load_model(weights, "cpu")  # bad weights fail here, before the slow bioimageio import
    v0_5 = bioimageio_spec()
    report(progress, 1, steps)

    simulation = simulate_test_movie()
    movie = simulation.movie
    probabilities = _probabilities(model, movie)
    events = _events_in(probabilities)
    matching = match_events(events, simulation.events, 5)
    test_summary = (f"In the test output the model finds {matching.n_detected} event(s), "
                    f"{len(matching.pairs)} of the {matching.n_reference} simulated events "
                    f"(matched one to one within 5 voxels in time, y, x).")
    report(progress, 2, steps)

    from ..io.leases import work_folder

    with work_folder(tempfile.gettempdir(), "exodeepfinder_bioimageio") as folder:
        files = {key: Path(folder) / file_name for key, file_name in _FILES.items()}
        _write_model_files(model, files, example_shape=(1, 1, MIN_FRAMES, MIN_PIXELS, MIN_PIXELS))
        report(progress, 3, steps)
        _write_tensor_files(movie, probabilities, files)
        _cover(movie, probabilities, events, files["cover"])
        files["documentation"].write_text(
            _documentation(name=name, weights_path=Path(model.weights_path), weights_source=model.weights_source,
                           weights_sha256=_sha256(model.weights_path), test_summary=test_summary),
            encoding="utf-8")
        description = _describe(v0_5, files, name=name, authors=authors, model=model)
        report(progress, 4, steps)
        _save_package(description, output, overwrite=overwrite)
    report(progress, 5, steps)
    return output


def _write_model_files(model, files: dict, example_shape) -> None:
    import warnings

    import torch

    files["architecture"].write_text(architecture_source(), encoding="utf-8")
    torch.save({key: value.detach().cpu().clone() for key, value in model.state_dict().items()},
               files["state_dict"])
    with warnings.catch_warnings(), torch.no_grad():
        # PyTorch warns that TorchScript is deprecated; bioimage.io tools still run it. Tracing
        # records the operations of one run; the network has no data-dependent branches, so the
        # trace of a small example holds for every input size (the package test runs several).
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, torch.zeros(example_shape), check_trace=False)
        torch.jit.save(traced, str(files["torchscript"]))


def _write_tensor_files(movie: np.ndarray, probabilities: np.ndarray, files: dict) -> None:
    import tifffile

    np.save(files["test_input"], movie.astype(np.float32)[None, None])
    np.save(files["test_output"], probabilities.astype(np.float32))
    # sample tensors are for people (the website shows them): the movie and the probabilities
    tifffile.imwrite(files["sample_input"], movie, photometric="minisblack", compression="zlib",
                     metadata={"axes": "TYX"})
    tifffile.imwrite(files["sample_output"], probabilities[0].transpose(1, 0, 2, 3), photometric="minisblack",
                     compression="zlib", metadata={"axes": "TCYX"})


def _architecture_kwargs(model) -> dict:
    """The keyword arguments that build ``model``'s UNet: its widths where they are not the reference network's."""
    widths = model_widths(model)
    return {"softmax": True} if widths == DEFAULT_WIDTHS else {"softmax": True, "widths": list(widths)}


def _describe(v0_5, files: dict, *, name: str, authors, model):
    import torch

    from .._version import __version__

    def axes(kind):
        if kind == "input":
            sizes = {"time": v0_5.ParameterizedSize(min=MIN_FRAMES, step=FRAME_STEP),
                     "y": v0_5.ParameterizedSize(min=MIN_PIXELS, step=PIXEL_STEP),
                     "x": v0_5.ParameterizedSize(min=MIN_PIXELS, step=PIXEL_STEP)}
            time_axis, space_axis = v0_5.TimeInputAxis, v0_5.SpaceInputAxis
            channels = ["tirf"]
        else:  # the output has the input's size
            sizes = {a: v0_5.SizeReference(tensor_id=v0_5.TensorId("raw"), axis_id=v0_5.AxisId(a))
                     for a in ("time", "y", "x")}
            time_axis, space_axis = v0_5.TimeOutputAxis, v0_5.SpaceOutputAxis
            channels = list(CLASS_NAMES)
        return [
            v0_5.BatchAxis(),
            v0_5.ChannelAxis(channel_names=[v0_5.Identifier(c) for c in channels]),
            time_axis(id=v0_5.AxisId("time"), size=sizes["time"], unit="second", scale=FRAME_INTERVAL_S,
                      description="frames"),
            space_axis(id=v0_5.AxisId("y"), size=sizes["y"], unit="micrometer", scale=PIXEL_SIZE_UM),
            space_axis(id=v0_5.AxisId("x"), size=sizes["x"], unit="micrometer", scale=PIXEL_SIZE_UM),
        ]

    raw = v0_5.InputTensorDescr(
        id=v0_5.TensorId("raw"),
        description="TIRF movie (camera counts)",
        axes=axes("input"),
        test_tensor=v0_5.FileDescr(source=files["test_input"]),
        sample_tensor=v0_5.FileDescr(source=files["sample_input"]),
        data=v0_5.IntervalOrRatioDataDescr(type="float32"),
        preprocessing=[v0_5.ScaleRangeDescr(kwargs=v0_5.ScaleRangeKwargs(
            axes=[v0_5.AxisId("y"), v0_5.AxisId("x")], min_percentile=PERCENTILES[0],
            max_percentile=PERCENTILES[1]))],
    )
    probabilities = v0_5.OutputTensorDescr(
        id=v0_5.TensorId("probabilities"),
        description="probabilities of background, bright spot and exocytosis event (softmax)",
        axes=axes("output"),
        test_tensor=v0_5.FileDescr(source=files["test_output"]),
        sample_tensor=v0_5.FileDescr(source=files["sample_output"]),
        data=v0_5.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
    )
    pytorch_version = v0_5.Version(torch.__version__.split("+")[0])
    weights = v0_5.WeightsDescr(
        pytorch_state_dict=v0_5.PytorchStateDictWeightsDescr(
            source=files["state_dict"],
            architecture=v0_5.ArchitectureFromFileDescr(source=files["architecture"], callable="UNet",
                                                        kwargs=_architecture_kwargs(model)),
            pytorch_version=pytorch_version,
        ),
        torchscript=v0_5.TorchscriptWeightsDescr(source=files["torchscript"], pytorch_version=pytorch_version,
                                                 parent="pytorch_state_dict"),
    )
    n_parameters = sum(int(p.numel()) for p in model.parameters())
    config = v0_5.Config(bioimageio=v0_5.BioimageioConfig(
        architecture_type="3D U-Net",
        architecture_description="DeepFinder 3D U-Net: 2 poolings in y and x only, "
                                 f"{'-'.join(str(w) for w in model_widths(model))} channels, "
                                 "ReLU, softmax over 3 classes",
        model_parameter_count=n_parameters,
    ))
    return v0_5.ModelDescr(
        name=name,
        description=("3D U-Net that labels every voxel of a TIRF microscopy movie (2D + time) as background, "
                     "bright spot or exocytosis event (ExoDeepFinder). Input: a movie (t, y, x); output: "
                     "the three class probabilities of every voxel."),
        authors=[v0_5.Author(name=a) for a in authors],
        cite=[v0_5.CiteEntry(text=CITATION, doi=v0_5.Doi(DOI))],
        license=v0_5.LicenseId(LICENSE),
        tags=list(TAGS),
        version=v0_5.Version(__version__),
        documentation=v0_5.FileDescr(source=files["documentation"]),
        covers=[v0_5.FileDescr(source=files["cover"])],
        inputs=[raw],
        outputs=[probabilities],
        weights=weights,
        config=config,
    )


def _save_package(description, output: Path, *, overwrite: bool) -> None:
    from bioimageio.spec import save_bioimageio_package

    with atomic_output(output, overwrite=overwrite) as tmp:
        save_bioimageio_package(description, output_path=tmp)

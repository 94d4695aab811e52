"""Between the package's data and napari layers (no napari or Qt import here).

Layers are described as napari "layer data tuples" ``(data, attributes, layer_type)``, which
readers, sample data and widgets all return. The axes are those of the package: ``t, y, x``
(frame, row, column); nothing is transposed.

- A movie is an image layer whose data is the (lazy) movie itself.
- A segmentation is a labels layer (0 background, 1 bright spot, 2 event) and, when the file
  holds the class probabilities, an image layer of the event probability.
- An events table is a points layer: coordinates ``t, y, x``; every other column
  (``class_label``, ``score``, ``cluster_size``, measurements, ``review``...) is a feature. A table
  with a ``review`` column draws each review state in its own colour and symbol (:data:`REVIEW_STYLES`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io.events import EVENT_COLUMNS, REVIEW_COLUMN
from ..labels import EVENT, EXPERT_EVENT, SPOT

AXES = ("t", "y", "x")
#: Where a layer came from, in its metadata (readers set it; widgets use it to propose file names).
PATH_KEY = "path"
#: Metadata key naming what a derived or helper layer is (such layers are not offered as movies or events).
ROLE_KEY = "exodeepfinder_role"
#: Colours of the points of events (and, in merged training annotations, of bright spots).
EVENT_COLOR = "yellow"
SPOT_COLOR = "cyan"
#: Diameter (pixels) of the circle drawn around an event.
EVENT_SIZE = 11
#: How each review state is drawn (border colour, symbol): bright colours and distinct shapes, legible on a
#: dark movie and without colour vision (rejected events are crosses, added ones diamonds).
REVIEW_STYLES = {"unreviewed": (EVENT_COLOR, "disc"), "accepted": ("#39ff5a", "disc"), "rejected": ("#ff4d4d", "x"),
                 "added": ("#4fc3ff", "diamond")}
#: Colours of the classes of a segmentation (label value -> RGBA): spots faint, so the movie shows through.
LABEL_COLORS = {SPOT: (0.0, 0.8, 1.0, 0.3), EVENT: (1.0, 0.0, 1.0, 0.6)}


def layer_name(path) -> str:
    """A short layer name for a file: its stem, with its folder when the stem says little (``cell1 movie``)."""
    path = Path(path)
    stem = path.stem if path.suffix else path.name
    if stem.lower() in ("movie", "tiff", "tif", "frames") and path.parent.name:
        return f"{path.parent.name} {stem}"
    return stem


def display_range(movie, n_frames: int = 8) -> tuple[float, float]:
    """Contrast limits of a movie: the 0.1 and 99.9 percentiles of a few frames spread over it.

    Only ``n_frames`` frames are read, so that a long lazy movie opens at once.
    """
    count = int(movie.shape[0])
    if count == 0:
        return 0.0, 1.0
    frames = np.unique(np.linspace(0, count - 1, min(n_frames, count)).round().astype(int))
    sample = np.stack([np.asarray(movie[int(i)]) for i in frames])
    low, high = np.percentile(sample, [0.1, 99.9])
    if high <= low:
        high = low + 1
    return float(low), float(high)


def movie_layer(movie, *, name: str = "movie", path=None) -> tuple:
    """Image layer of a movie ``[t, y, x]`` (any array-like: lazy movies stay lazy)."""
    attributes = {"name": name, "colormap": "gray", "contrast_limits": display_range(movie),
                  "axis_labels": AXES, "metadata": _metadata(path)}
    return movie, attributes, "image"


def labels_layer(labels, *, name: str = "segmentation", path=None, colors: dict | None = None) -> tuple:
    """Labels layer of a label map ``[t, y, x]`` (0 background, 1 bright spot, 2 event).

    ``colors`` maps label values to colours (default: :data:`LABEL_COLORS`; expert
    segmentations, whose events are 1, use ``{1: LABEL_COLORS[2]}``).
    """
    # a mapping label -> colour is a direct colormap for napari (None: any other label)
    colormap = {None: "white", 0: "transparent", **(LABEL_COLORS if colors is None else colors)}
    attributes = {"name": name, "opacity": 0.7, "axis_labels": AXES, "metadata": _metadata(path),
                  "colormap": colormap}
    return labels, attributes, "labels"


class ClassProbability:
    """One class of the probabilities ``scores[t, class, y, x]`` seen as a lazy ``[t, y, x]`` array.

    Slicing reads only the frames asked for (an image layer of a long movie's probabilities opens
    at once and reads what it shows).
    """

    def __init__(self, scores, index: int = EVENT):
        self.scores = scores
        self.index = int(index)
        t, _, height, width = scores.shape
        self.shape = (t, height, width)
        self.dtype = np.dtype(scores.dtype)
        self.ndim = 3
        self.size = int(np.prod(self.shape))

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (3 - len(key))
        time_key, rest = key[0], key[1:]
        if isinstance(time_key, (int, np.integer, slice)):
            return np.asarray(self.scores[(time_key, self.index) + rest])
        frames = np.asarray(time_key)
        return np.stack([np.asarray(self.scores[(int(t), self.index) + rest]) for t in frames])

    def __array__(self, dtype=None, copy=None):
        array = self[:]
        return array if dtype is None else array.astype(dtype)


def probability_layer(probability, *, name: str = "event probability") -> tuple:
    """Image layer of the event probability ``[t, y, x]`` (values 0 to 1), drawn over the movie."""
    attributes = {"name": name, "colormap": "magma", "contrast_limits": (0.0, 1.0), "blending": "additive",
                  "opacity": 0.6, "axis_labels": AXES, "visible": False, "metadata": {ROLE_KEY: "event probability"}}
    return probability, attributes, "image"


def segmentation_layers(labels, scores=None, *, name: str = "segmentation", path=None) -> list[tuple]:
    """The labels layer of a segmentation and, with ``scores`` ``[t, 3, y, x]``, its event probability."""
    layers = [labels_layer(labels, name=name, path=path)]
    if scores is not None:
        layers.append(probability_layer(ClassProbability(scores), name=f"{name} event probability"))
    return layers


def _metadata(path) -> dict:
    return {PATH_KEY: str(path)} if path is not None else {}


def point_colors(class_labels) -> list[str] | str:
    """Colour of the circle of each point: one colour for events; spots and events differ in merged annotations."""
    values = np.asarray(class_labels)
    if len(values) == 0 or len(np.unique(values)) == 1:
        return EVENT_COLOR
    # merged training annotations: class 1 = bright spot, class 2 = event
    return [EVENT_COLOR if value == EVENT else SPOT_COLOR for value in values]


def review_style(states, class_labels=None) -> tuple[list[str], list[str]]:
    """Border colours and symbols of points in the review ``states`` (see :data:`REVIEW_STYLES`).

    With ``class_labels``, unreviewed points keep the colour of their class (:func:`point_colors`:
    bright spots of merged annotations stay cyan).
    """
    colors = [REVIEW_STYLES[state][0] for state in states]
    if class_labels is not None and len(class_labels) == len(colors):
        class_colors = point_colors(class_labels)
        if not isinstance(class_colors, str):
            colors = [class_color if state == "unreviewed" else color
                      for state, color, class_color in zip(states, colors, class_colors)]
    return colors, [REVIEW_STYLES[state][1] for state in states]


def events_layer(events: pd.DataFrame, *, name: str = "events", path=None) -> tuple:
    """Points layer of an events table: coordinates ``t, y, x``; the other columns are features.

    With a ``review`` column, each point is drawn in the colour and symbol of its review state.
    """
    missing = [c for c in AXES if c not in events.columns]
    if missing:
        raise ValueError(f"events: missing column(s) {', '.join(missing)}")
    events = events.reset_index(drop=True)
    features = events.drop(columns=list(AXES))
    if "class_label" not in features.columns:
        features.insert(0, "class_label", EXPERT_EVENT)
    attributes = {
        "name": name,
        "features": features,
        "feature_defaults": new_event_defaults(features),
        "size": EVENT_SIZE,
        "symbol": "o",
        "face_color": "transparent",
        "border_color": point_colors(features["class_label"]),
        "border_width": 0.12,
        "projection_mode": "rescale_spherical",
        "axis_labels": AXES,
        "metadata": _metadata(path),
    }
    if REVIEW_COLUMN in features.columns and len(features):
        from ..events.review import review_states

        attributes["border_color"], attributes["symbol"] = review_style(review_states(features),
                                                                        features["class_label"])
    return events[list(AXES)].to_numpy(float).reshape(-1, 3), attributes, "points"


def new_event_defaults(features: pd.DataFrame) -> dict:
    """Feature values of an event added by hand: ``class_label`` 1, review ``added``, no score, no measurements."""
    defaults = {}
    for column in features.columns:
        if column == "class_label":
            defaults[column] = EXPERT_EVENT
        elif column == REVIEW_COLUMN:
            defaults[column] = "added"
        elif pd.api.types.is_numeric_dtype(features[column]):
            defaults[column] = np.nan
        else:
            defaults[column] = ""
    return defaults


def events_from_points(data, features=None) -> pd.DataFrame:
    """The events table of a points layer: ``t, y, x`` from its coordinates, then its features.

    Points without ``class_label`` get 1 (an event, as in expert annotations). Hand-added
    events have NaN in numeric feature columns; their ``obj_id`` is left empty.
    """
    data = np.asarray(data, float)
    if data.ndim != 2 or (len(data) and data.shape[1] != 3):
        raise ValueError(f"points: expected coordinates [t, y, x], got an array of shape {data.shape}")
    events = pd.DataFrame(data.reshape(-1, 3), columns=list(AXES))
    if features is not None and len(features.columns):
        features = features.reset_index(drop=True)
        if len(features) != len(events):
            raise ValueError(f"points: {len(events)} points but {len(features)} rows of features")
        events = pd.concat([events, features.drop(columns=[c for c in AXES if c in features.columns])], axis=1)
    if "class_label" not in events.columns:
        events["class_label"] = EXPERT_EVENT
    labels = pd.to_numeric(events["class_label"], errors="coerce").fillna(EXPERT_EVENT)
    events["class_label"] = labels.astype(int)
    ordered = EVENT_COLUMNS + [c for c in events.columns if c not in EVENT_COLUMNS]
    return events[ordered]


def empty_events() -> pd.DataFrame:
    """An events table with no rows (what a new annotation layer starts from)."""
    return pd.DataFrame({"t": pd.Series(dtype=float), "y": pd.Series(dtype=float), "x": pd.Series(dtype=float),
                         "class_label": pd.Series(dtype=int)})


__all__ = ["AXES", "PATH_KEY", "ROLE_KEY", "layer_name", "display_range", "movie_layer", "labels_layer",
           "probability_layer", "segmentation_layers", "ClassProbability", "events_layer", "events_from_points",
           "new_event_defaults", "empty_events", "point_colors", "REVIEW_STYLES", "review_style"]

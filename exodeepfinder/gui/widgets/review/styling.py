"""The review feature of an events layer and how each state is drawn (no Qt).

Every point of an events layer has a review state, the feature ``review``
(:data:`~exodeepfinder.io.events.REVIEW_STATES`); these functions add it, change it and colour
the points by it. They write ``layer.features`` as a whole, whose event redraws the points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ... import layers
from ....events.review import review_states
from ....io.events import REVIEW_COLUMN


def ensure_review_column(layer) -> None:
    """Give the layer a ``review`` feature, all unreviewed, if it has none."""
    features = layer.features
    if REVIEW_COLUMN not in features.columns and len(features) == len(layer.data):
        features = features.copy()
        features[REVIEW_COLUMN] = pd.Series(["unreviewed"] * len(features), index=features.index, dtype=object)
        layer.features = features


def restyle(layer) -> None:
    """Draw each point in the colour and symbol of its review state."""
    if REVIEW_COLUMN not in layer.features.columns or len(layer.features) != len(layer.data) \
            or len(layer.data) == 0:
        return
    features = layer.features
    classes = features["class_label"] if "class_label" in features.columns else None
    colors, symbols = layers.review_style(review_states(features), classes)
    layer.border_color = colors
    layer.symbol = symbols


def mark_added(layer, indices) -> None:
    """Give points ``indices`` the features of a hand-added event: review ``added``, no score, no measurements.

    napari gives a new point the features of the last selected one (its score, its state...).
    """
    if not indices or len(layer.features) != len(layer.data):
        return
    features = layer.features.copy()
    for column, value in layers.new_event_defaults(features).items():
        if isinstance(value, float) and np.isnan(value) and not pd.api.types.is_float_dtype(features[column]):
            features[column] = features[column].astype(float)
        features.iloc[indices, features.columns.get_loc(column)] = value
    layer.features = features


def set_states(layer, indices, state: str) -> None:
    """Give points ``indices`` the review ``state``; accepting a hand-added event keeps it ``added``."""
    if REVIEW_COLUMN not in layer.features.columns or len(layer.features) != len(layer.data):
        return
    states = review_states(layer.features)
    for index in indices:
        states[index] = "added" if state == "accepted" and states[index] == "added" else state
    features = layer.features.copy()
    features[REVIEW_COLUMN] = pd.Series(states, index=features.index, dtype=object)
    layer.features = features

"""Segmentation of movies with the U-Net (normalisation, tiling, inference engines, memory budget)."""

from ..model.normalize import normalize_frames  # noqa: F401
from .backends import BACKENDS  # noqa: F401
from .memory import parse_memory  # noqa: F401
from .segment import SegmentedBlock, iter_segment, segment_movie  # noqa: F401
from .tiling import TILINGS  # noqa: F401

"""Segmentation of movies with the U-Net (normalisation, tiling, inference)."""

from .normalize import normalize_frames  # noqa: F401
from .segment import SegmentedBlock, iter_segment, segment_movie  # noqa: F401

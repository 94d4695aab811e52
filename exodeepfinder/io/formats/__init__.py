"""Microscope movie files: OME-TIFF, Micro-Manager, MetaMorph and ImageJ TIFF, Nikon ND2, Zeiss CZI, Leica LIF.

A microscope file may hold several scenes (positions, series) and channels, and a time axis
and a Z axis. :func:`open_tiff_movie` and :func:`open_bioio_movie` pick one scene and one channel
and return a lazy ``[t, y, x]`` source (slicing reads only the frames asked for) and the file's
:class:`MovieMetadata` (pixel size in micrometres, frame interval in seconds);
:func:`exodeepfinder.io.open_movie` chooses between them by the file's name.

The package is split by what the parts are:

- :mod:`.choice`: which files are microscope files (suffixes), and which scene and channel is read
  (the same rules for every format);
- :mod:`.metadata`: :class:`MovieMetadata` and the parsing of lengths and times in their units;
- :mod:`.sources`: what the lazy sources share (index keys, read errors);
- :mod:`.tiff_reader`: TIFF files (OME-TIFF, Micro-Manager stacks, MetaMorph ``.stk``, ImageJ
  hyperstacks) read with ``tifffile``, memory-mapped when uncompressed in one block, else page by page;
- :mod:`.bioio_reader`: every other format (ND2, CZI, LIF, and whatever other bioio reader plugin is
  installed) through ``bioio`` (the optional extra ``exodeepfinder-torch[formats]``).
"""

from .bioio_reader import BioioFrames, bioio_can_read, open_bioio_movie
from .choice import (BIOIO_FORMATS, FIRST, FORMATS_INSTALL_HINT, METAMORPH_SUFFIXES,
                     OME_TIFF_SUFFIXES, choose, is_microscope_file)
from .metadata import MovieMetadata
from .sources import split_time_key
from .tiff_reader import TiffSeriesFrames, open_tiff_movie

__all__ = ["BIOIO_FORMATS", "FIRST", "FORMATS_INSTALL_HINT", "METAMORPH_SUFFIXES", "OME_TIFF_SUFFIXES", "BioioFrames",
           "MovieMetadata", "TiffSeriesFrames", "bioio_can_read", "choose", "is_microscope_file", "open_bioio_movie",
           "open_tiff_movie", "split_time_key"]

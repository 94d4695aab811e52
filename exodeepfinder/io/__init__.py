"""Reading and writing movies, label maps and event lists."""

from .atomic import atomic_output  # noqa: F401
from .h5 import read_h5, write_h5  # noqa: F401
from .movie import open_movie, read_movie  # noqa: F401

"""Reading and writing movies, label maps, event lists, tables and figures."""

from .atomic import atomic_output, atomic_outputs  # noqa: F401
from .figures import save_figure  # noqa: F401
from .formats import MovieMetadata  # noqa: F401
from .h5 import read_h5, write_h5  # noqa: F401
from .movie import Movie, movie_choices, open_movie, read_movie  # noqa: F401
from .segmentation import open_segmentation, read_segmentation, write_segmentation, write_segmentation_blocks  # noqa: F401
from .tables import write_csv  # noqa: F401

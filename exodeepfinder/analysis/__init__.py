"""From events to answers: cell masks, event types, per-cell statistics, condition comparisons.

- :mod:`~exodeepfinder.analysis.mask`: the cell mask (automatic, or from a file) and its area;
- :mod:`~exodeepfinder.analysis.types`: each event's origin (docked / arrived) and release
  (spreading / in place), with a confidence;
- :mod:`~exodeepfinder.analysis.spatial`: Ripley's L with a Monte-Carlo envelope of complete
  spatial randomness in the mask, nearest neighbours, a space-time (Knox) test, hotspot density;
- :mod:`~exodeepfinder.analysis.cells`: everything about one cell (:func:`analyse_cell`);
- :mod:`~exodeepfinder.analysis.conditions`: cells compared between conditions (tests, effect
  sizes, hierarchical bootstrap);
- :mod:`~exodeepfinder.analysis.report`: the self-contained HTML report.
"""

from .cells import CELL_COLUMNS, CellAnalysis, analyse_cell  # noqa: F401
from .conditions import compare_conditions, summarise_conditions  # noqa: F401
from .mask import automatic_mask, check_mask, mask_area_um2, mask_projection  # noqa: F401
from .spatial import clustering_test, hotspot_density, knox_test, nearest_neighbours, ripley_l  # noqa: F401
from .types import ORIGINS, RELEASES, classify_events  # noqa: F401

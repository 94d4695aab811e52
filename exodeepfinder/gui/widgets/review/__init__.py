"""Review and annotate widget: accept, reject, add, delete and move events; side views; intensity trace.

- Events live in a points layer ``[t, y, x]`` (detected events, or a new annotation layer).
- Every event has a review state, the layer's feature ``review``
  (:data:`~exodeepfinder.io.events.REVIEW_STATES`): ``unreviewed``, ``accepted``, ``rejected`` (kept in
  the layer and the CSV as a negative example, drawn as a red cross) or ``added`` (by hand). A layer
  without the feature gets it, all ``unreviewed``, when the widget takes it.
- Keys in the viewer: ``A`` accepts and ``R`` rejects the selected events (then, unless unticked,
  go on to the next event), ``U`` goes to the next most uncertain unreviewed event
  (:func:`~exodeepfinder.events.review.most_uncertain_order`), ``E`` adds an event at the mouse,
  ``M`` moves the selected event there, ``N`` / ``B`` jump to the next / previous event (in time),
  ``Delete`` removes the selected event (napari's own key, in the points layer's select mode;
  the button works in any mode).
- A progress line: "23 of 41 reviewed" (accepted, rejected and added events are reviewed).
- Side views: the t-x plane through the cross's row and the t-y plane through its column
  (kymographs, time downwards) over a window of frames around the current one. The cross (two
  red lines, layer ``side views planes``) follows the mouse over the movie (unless unticked),
  jumps to the selected event, and its lines can be dragged. A click in a side view goes to that
  frame and moves the cross along the plane. The current frame is the dashed line; events near
  the plane are circles.
- The intensity trace (ΔF/F0 over frames, :func:`exodeepfinder.events.measure.event_trace`) of the
  selected event.
- Save the events as CSV (all columns, the review states included: what ``exodeepfinder adapt``
  reads) or as a reference XML annotation of the accepted and added events (the unreviewed ones too
  if the user says so when asked). Files are written atomically; an existing file is replaced only
  when the save dialog confirmed it.

The widget is a package by part: :mod:`.widget` (layout and layers), :mod:`.states`,
:mod:`.navigation`, :mod:`.side_views`, :mod:`.saving`, :mod:`.keys` and :mod:`.styling`.
"""

from .keys import KEYS
from .saving import ANNOTATION_NAME, CORRECTIONS_NAME
from .side_views import CROSS_LAYER, NEAR_PLANE
from .widget import ReviewWidget

__all__ = ["ANNOTATION_NAME", "CORRECTIONS_NAME", "CROSS_LAYER", "KEYS", "NEAR_PLANE", "ReviewWidget"]

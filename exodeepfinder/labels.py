"""The classes of a segmentation (label map), as the reference ExoDeepFinder numbers them.

A segmentation made by the network holds :data:`BACKGROUND`, :data:`SPOT` and :data:`EVENT`.
Expert segmentations made from annotations (``generate_segmentation``) mark events with
:data:`EXPERT_EVENT` (1), and annotation files give events ``class_label`` 1; merged training
annotations use 1 for bright spots and 2 for events, like the network's classes.
"""

BACKGROUND = 0
#: A bright spot that is not an exocytosis event (a docked vesicle, a distractor...).
SPOT = 1
#: An exocytosis event.
EVENT = 2
#: Label of event voxels in expert segmentations, and ``class_label`` of events in annotations.
EXPERT_EVENT = 1

#: Name of each class of the network, by label value.
LABELS = {BACKGROUND: "background", SPOT: "bright spot", EVENT: "event"}
N_CLASSES = len(LABELS)

"""The training dataset layout: what ``edf_structure_training_dataset`` writes and ``edf_train`` reads.

::

    dataset/
    ├── train/  <movie>.h5  <movie>_target.h5  <movie>_objl.xml   (for each training movie)
    └── valid/  <movie>.h5  <movie>_target.h5  <movie>_objl.xml   (for each validation movie)
"""

TRAIN, VALID = "train", "valid"
#: Suffixes of the three files of a movie: the movie, its target segmentation, its object list.
MOVIE_SUFFIX, TARGET_SUFFIX, OBJECTS_SUFFIX = ".h5", "_target.h5", "_objl.xml"

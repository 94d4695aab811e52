"""Graphical interfaces: the napari plugin and the form window of every command.

Both need the GUI extra (``pip install 'exodeepfinder-torch[gui]'``: napari, Qt 6, magicgui).

- The napari plugin (manifest ``napari.yaml``) opens movies, segmentations and event lists
  (:mod:`._reader`), saves event lists and segmentations (:mod:`._writer`), offers a simulated
  movie as sample data (:mod:`._sample`) and docks the widgets of :mod:`.widgets`: Detect,
  Review and annotate, Training set, Train, Evaluate, Analyse and Adapt the model.
- :func:`exodeepfinder.gui.forms.launch` opens the form window of a command (what every
  command does when run with no arguments) or the ``ExoDeepFinder`` window listing them all
  (the package :mod:`.forms`: fields from argparse, the form, the runner of the child process, the window).

What converts between the package's data (movies, label maps, events tables) and napari
layers lives in :mod:`.layers`, which imports neither napari nor Qt.
"""

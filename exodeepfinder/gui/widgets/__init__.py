"""The dock widgets of the napari plugin (Qt through qtpy; long work in napari thread workers).

- :class:`~.detect.DetectWidget`: segmentation and clustering of a movie layer, live filters;
- :class:`~.review.ReviewWidget`: add, delete, move and browse events, side views, intensity trace (a package
  by part: states, navigation, side views, saving, keys, styling);
- :class:`~.training.TrainingSetWidget`: expert target, spot detection, merge, dataset folders;
- :class:`~.training.TrainWidget`: training with a live loss plot, cancel and resume;
- :class:`~.evaluate.EvaluateWidget`: precision, recall and F1 of one points layer against another;
- :class:`~.analyse.AnalyseWidget`: rate, event types and spatial statistics of a cell;
- :class:`~.adapt.AdaptWidget`: adapt the model to reviewed movies (a model folder).

Each widget is thin: it reads its inputs from layers and fields, calls one library function in
a worker thread (:class:`~._common.TaskPanel` shows its progress and cancels it) and turns the
result into layers (:mod:`exodeepfinder.gui.layers`). What they share (layer pickers, path and
number fields, forms, the log, the run button with its panel) is in :mod:`._common`.
"""

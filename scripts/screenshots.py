"""Write screenshots of the GUI to docs/images/ (napari with the plugin's widgets, and the form windows).

Run it with a display, or under a virtual one::

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshots.py [--output docs/images]

It opens the sample movie, detects its events with the bundled model (a minute on a laptop CPU),
evaluates them against the truth, builds a training target, trains for a few steps on a small
simulated dataset, segments the sample from the form of ``edf_segment``, and grabs each view.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def wait(app, condition, timeout: float = 1800) -> None:
    """Process Qt events until ``condition()`` is true."""
    start = time.monotonic()
    while not condition():
        app.processEvents()
        time.sleep(0.02)
        if time.monotonic() - start > timeout:
            raise TimeoutError("the GUI did not finish in time")
    for _ in range(20):  # let the canvases redraw
        app.processEvents()
        time.sleep(0.02)


def grab(widget, path: Path) -> None:
    widget.grab().save(str(path))
    print(f"wrote {path}")


def training_dataset(folder: Path) -> Path:
    """A small training dataset of simulated movies (their truth as expert events), for the Train view."""
    import exodeepfinder as edf
    from exodeepfinder.io.events import write_events
    from exodeepfinder.io.h5 import write_h5
    from exodeepfinder.io.segmentation import write_segmentation

    movies = folder / "movies"
    for index in range(2):
        simulation = edf.simulate((32, 64, 64), n_events=6, n_spots=10, seed=30 + index)
        cell = movies / f"cell{index}"
        write_h5(cell / "movie.h5", simulation.movie)
        expert = edf.events_to_labels(simulation.events, simulation.movie.shape)
        spots = edf.detect_spots(simulation.movie)
        labels, objects = edf.merge_detector_expert(spots, simulation.events, expert)
        write_segmentation(labels, cell / "merged_segmentation.h5")
        write_events(objects, cell / "merged_annotation.xml")
    edf.structure_training_dataset(movies, folder / "dataset", split=50, seed=0)
    return folder / "dataset"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "images", help="folder of the PNG files")
    parser.add_argument("--no-training", action="store_true", help="skip the few training steps of the Train view")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)

    import napari
    from qtpy.QtWidgets import QApplication

    from exodeepfinder.gui import forms
    from exodeepfinder.io.h5 import write_h5

    viewer = napari.Viewer(title="napari: ExoDeepFinder")
    app = QApplication.instance()
    viewer.window.resize(1500, 950)
    movie, truth = viewer.open_sample("exodeepfinder", "simulated_movie")

    detect_dock, detect = viewer.window.add_plugin_dock_widget("exodeepfinder", "Detect events")
    detect.weights_choice.setCurrentText("bundled")
    detect.device_choice.setCurrentText("cpu")
    detect.run()
    wait(app, lambda: not detect.task.running)
    events = viewer.layers[f"{movie.name} events"]
    truth.visible = False
    viewer.layers.selection.active = events
    first = events.data[events.data[:, 0].argsort()[len(events.data) // 2]]
    viewer.dims.set_current_step(0, int(first[0]))
    wait(app, lambda: True)
    viewer.screenshot(str(args.output / "napari_detect.png"), canvas_only=False)
    print(f"wrote {args.output / 'napari_detect.png'}")
    grab(detect, args.output / "widget_detect.png")

    viewer.window.remove_dock_widget(detect_dock)
    review_dock, review = viewer.window.add_plugin_dock_widget("exodeepfinder", "Review and annotate")
    review.events_choice.set_layer(events)
    review.follow_mouse.setChecked(False)
    review.go_to_event(int(events.data[:, 0].argsort()[len(events.data) // 2]))
    viewer.reset_view()
    review.draw_side_views()
    wait(app, lambda: True)
    viewer.screenshot(str(args.output / "napari_review.png"), canvas_only=False)
    print(f"wrote {args.output / 'napari_review.png'}")
    grab(review, args.output / "widget_review.png")

    viewer.window.remove_dock_widget(review_dock)
    _, evaluate = viewer.window.add_plugin_dock_widget("exodeepfinder", "Evaluate")
    truth.visible = True
    evaluate.detected_choice.set_layer(events)
    evaluate.reference_choice.set_layer(truth)
    evaluate.evaluate()
    wait(app, lambda: True)
    grab(evaluate, args.output / "widget_evaluate.png")

    _, training_set = viewer.window.add_plugin_dock_widget("exodeepfinder", "Training set")
    training_set.expert_choice.set_layer(truth)
    training_set.make_target()
    wait(app, lambda: True)
    grab(training_set, args.output / "widget_training_set.png")

    _, train = viewer.window.add_plugin_dock_widget("exodeepfinder", "Train")
    scratch = Path(tempfile.mkdtemp(prefix="edf_screenshots_"))
    train.dataset.set_path(scratch / "dataset")
    train.output.set_path(scratch / "training")
    if not args.no_training:
        training_dataset(scratch)
        for name, value in (("patch_sizes", "16"), ("batch_sizes", "8"), ("random_shifts", "4"), ("n_epochs", "8"),
                            ("n_steps", "4")):
            train.stage_fields[name].setText(value)
        train.device_choice.setCurrentText("cpu")
        train.train()
        wait(app, lambda: not train.task.running)
    grab(train, args.output / "widget_train.png")

    segment = forms.CommandWindow("segment")
    form = segment.form("segment")
    cell = scratch / "cell1"
    write_h5(cell / "movie.h5", movie.data)
    form.set_value("movie", cell / "movie.h5")
    form.set_value("model_weights", "bundled")
    form.set_value("device", "cpu")
    segment.show()
    segment.run()
    wait(app, lambda: not segment.runner.running)
    grab(segment, args.output / "form_segment.png")
    umbrella = forms.CommandWindow()
    umbrella.show()
    wait(app, lambda: True)
    grab(umbrella, args.output / "form_exodeepfinder.png")
    segment.close()
    umbrella.close()
    viewer.close()
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

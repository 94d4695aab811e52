"""Write screenshots of the GUI to docs/images/ (napari with the plugin's widgets, and the form windows).

Run it with a display, or under a virtual one::

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshots.py [--output docs/images]

It opens the sample movie, detects its events with the bundled model (a minute on a laptop CPU),
reviews the detections of a harder simulated movie as a careful user does (``review_states.png``:
accepted, rejected, added and unreviewed events), evaluates them against the truth, builds a training target, trains for a
few steps on a small simulated dataset, segments the sample from the form of ``edf_segment``,
and grabs each view. ``--review-only`` stops after the review views.
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


#: A movie where the bundled model errs both ways (dim events, many flashes and spots that come and go), for the
#: picture of the review states: 11 detections, 6 of them true, and 2 of the 8 events missed.
REVIEW_MOVIE = dict(shape=(60, 96, 96), n_events=8, seed=7, n_flashes=12, n_arriving_leaving=12, event_amplitude=220.0)


def review_states(viewer, app, review, path: Path) -> None:
    """Review the detections of a simulated movie as a careful user does; picture each review state.

    The movie is :data:`REVIEW_MOVIE`, detected with the bundled model (every cluster kept). The
    two detections closest to the decision are left unreviewed; the others are accepted when they
    match a true event, else rejected; the missed true events are added by hand. The picture: the
    napari window at the next most uncertain event, with the Review widget, above a crop of the
    movie around an event of each state.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    import exodeepfinder as edf
    from exodeepfinder.events.evaluate import match_events
    from exodeepfinder.gui import layers
    from exodeepfinder.gui.widgets._common import add_layer
    from exodeepfinder.simulation import simulate_movie

    simulation = simulate_movie(**REVIEW_MOVIE)
    detection = edf.detect(simulation.movie, edf.load_model("bundled", device="cpu"), min_size=None)
    shown = {layer: layer.visible for layer in viewer.layers}
    for layer in viewer.layers:
        layer.visible = False
    movie = add_layer(viewer, layers.movie_layer(simulation.movie, name="dim events movie"))
    events = add_layer(viewer, layers.events_layer(detection.events, name="dim events movie events"))
    review.movie_choice.set_layer(movie)
    review.events_choice.set_layer(events)
    review.advance.setChecked(False)
    matching = match_events(detection.events, simulation.events)
    matched = {int(i) for i in matching.pairs["detected"]}
    table = layers.events_from_points(events.data, events.features)
    unreviewed = {int(i) for i in np.argsort(np.abs(table["score"].to_numpy() - 0.5))[:2]}
    for index in range(len(table)):
        if index not in unreviewed:
            review.set_review_state("accepted" if index in matched else "rejected", [index])
    for label in matching.false_negatives:
        t, y, x = simulation.events.loc[label, ["t", "y", "x"]]
        viewer.dims.set_current_step(0, int(round(t)))
        viewer.cursor.position = (t, y, x)
        review.add_event_at_cursor()
    print(f"review picture: {len(table)} detections, {len(matched)} true; {len(matching.false_negatives)} added")
    review.advance.setChecked(True)
    keys = {"accepted": "key A", "rejected": "key R", "added": "key E", "unreviewed": "key U finds them"}
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    states = review.review_states()
    crops = []
    for state in ("accepted", "rejected", "added", "unreviewed"):
        candidates = np.flatnonzero(states == state)
        if len(candidates):
            review.go_to_event(int(candidates[0]))
            camera.zoom = 6
            wait(app, lambda: True)
            crops.append((state, viewer.screenshot(canvas_only=True, flash=False)))
    events.selected_data = set()
    review.next_uncertain_event()
    viewer.reset_view()
    review.draw_side_views()
    wait(app, lambda: True)
    window = viewer.screenshot(canvas_only=False, flash=False)
    for layer in (events, movie):        # the viewer as it was, for the next views
        viewer.layers.remove(layer)
    for layer, visible in shown.items():
        layer.visible = visible
    figure = plt.figure(figsize=(16, 14), facecolor="#262930")
    grid = figure.add_gridspec(2, 4, height_ratios=[window.shape[0] / window.shape[1] * 4, 1], hspace=0.06,
                               wspace=0.03, left=0.01, right=0.99, top=0.99, bottom=0.01)
    top = figure.add_subplot(grid[0, :])
    top.imshow(window)
    top.axis("off")
    for column, (state, crop) in enumerate(crops):
        axes = figure.add_subplot(grid[1, column])
        height, width = crop.shape[:2]
        side = min(height, width) // 2
        axes.imshow(crop[(height - side) // 2:(height + side) // 2, (width - side) // 2:(width + side) // 2])
        axes.axis("off")
        axes.set_title(f"{state} ({keys[state]})", color=layers.REVIEW_STYLES[state][0], fontsize=15)
    figure.savefig(path, dpi=90, facecolor=figure.get_facecolor())
    plt.close(figure)
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
    parser.add_argument("--review-only", action="store_true", help="stop after the views of the Review widget")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)

    import napari
    from qtpy.QtWidgets import QApplication

    from exodeepfinder.gui import forms
    from exodeepfinder.io.h5 import write_h5

    viewer = napari.Viewer(title="napari: ExoDeepFinder")
    app = QApplication.instance()
    viewer.window.resize(1500, 950)
    movie, truth = viewer.open_sample("exodeepfinder-torch", "simulated_movie")

    detect_dock, detect = viewer.window.add_plugin_dock_widget("exodeepfinder-torch", "Detect events")
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
    review_dock, review = viewer.window.add_plugin_dock_widget("exodeepfinder-torch", "Review and annotate")
    review.events_choice.set_layer(events)
    review.follow_mouse.setChecked(False)
    review.go_to_event(int(events.data[:, 0].argsort()[len(events.data) // 2]))
    viewer.reset_view()
    review.draw_side_views()
    wait(app, lambda: True)
    viewer.screenshot(str(args.output / "napari_review.png"), canvas_only=False)
    print(f"wrote {args.output / 'napari_review.png'}")
    grab(review, args.output / "widget_review.png")
    review_states(viewer, app, review, args.output / "review_states.png")
    if args.review_only:
        viewer.close()
        return 0

    viewer.window.remove_dock_widget(review_dock)
    _, evaluate = viewer.window.add_plugin_dock_widget("exodeepfinder-torch", "Evaluate")
    truth.visible = True
    evaluate.detected_choice.set_layer(events)
    evaluate.reference_choice.set_layer(truth)
    evaluate.evaluate()
    wait(app, lambda: True)
    grab(evaluate, args.output / "widget_evaluate.png")

    _, training_set = viewer.window.add_plugin_dock_widget("exodeepfinder-torch", "Training set")
    training_set.expert_choice.set_layer(truth)
    training_set.make_target()
    wait(app, lambda: True)
    grab(training_set, args.output / "widget_training_set.png")

    _, train = viewer.window.add_plugin_dock_widget("exodeepfinder-torch", "Train")
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

"""Review and annotate widget, driven as a user does: add, delete, move, browse, save and reopen events."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from _gui import register_plugin, skip_without_gui  # noqa: E402

skip_without_gui("napari", "qtpy.QtWidgets")

from napari.layers import Points  # noqa: E402

from exodeepfinder.events.measure import measure_events  # noqa: E402
from exodeepfinder.gui import layers  # noqa: E402
from exodeepfinder.events.measure import event_trace  # noqa: E402
from exodeepfinder.io.events import read_events  # noqa: E402
from exodeepfinder.gui.widgets.review import KEYS  # noqa: E402
from exodeepfinder.simulation import simulate_movie  # noqa: E402


@pytest.fixture(scope="module")
def plugin():
    return register_plugin()


@pytest.fixture(scope="module")
def simulation():
    return simulate_movie((40, 64, 64), n_events=4, n_spots=6, seed=11)


@pytest.fixture
def review(make_napari_viewer, plugin, simulation):
    viewer, _, widget = _docked_review(make_napari_viewer, plugin, simulation)
    return viewer, widget


def _docked_review(make_napari_viewer, plugin, simulation):
    viewer = make_napari_viewer()
    from napari.layers import Layer

    viewer.add_layer(Layer.create(*layers.movie_layer(simulation.movie, name="movie")))
    viewer.add_layer(Layer.create(*layers.events_layer(simulation.events[["t", "y", "x", "class_label"]],
                                                       name="events")))
    dock, widget = viewer.window.add_plugin_dock_widget(plugin, "Review and annotate")
    return viewer, dock, widget


def _move_mouse(viewer, t, y, x):
    viewer.dims.set_current_step(0, t)
    viewer.cursor.position = (t, y, x)


def test_add_delete_save_and_reopen(review, tmp_path, qtbot):
    viewer, widget = review
    events_layer = viewer.layers["events"]
    assert widget.events_layer() is events_layer and widget.movie_choice.layer().name == "movie"
    n = len(events_layer.data)

    _move_mouse(viewer, 12, 30.4, 21.6)
    widget.add_event_at_cursor()
    assert len(events_layer.data) == n + 1
    np.testing.assert_allclose(events_layer.data[-1], [12, 30.4, 21.6])
    assert events_layer.features["class_label"].iloc[-1] == 1
    assert widget.selected_event()[0] == n

    widget.go_to_event(0)                               # select the first true event and delete it
    removed = np.array(events_layer.data[0])
    widget.delete_selected()
    assert len(events_layer.data) == n
    assert not any(np.allclose(row, removed) for row in events_layer.data)

    for suffix in (".csv", ".xml"):   # the XML with the unreviewed events: an expert annotation being edited
        written = widget.save(tmp_path / f"expert_annotation{suffix}", include_unreviewed=True)
        (reopened,) = viewer.open(written, plugin="exodeepfinder-torch")
        assert isinstance(reopened, Points)
        np.testing.assert_allclose(reopened.data, events_layer.data, atol=1e-3)
        saved = read_events(written)
        assert (saved["class_label"] == 1).all() and len(saved) == n


def test_move_and_browse_events_in_time_order(review):
    viewer, widget = review
    events_layer = viewer.layers["events"]
    times = np.sort(events_layer.data[:, 0])
    visited = []
    viewer.dims.set_current_step(0, 0)
    events_layer.selected_data = set()
    for _ in range(len(times)):
        widget.next_event()
        index, position = widget.selected_event()
        visited.append(position[0])
        assert viewer.dims.current_step[0] == int(round(position[0]))
        assert np.allclose(widget.cross, position[1:])
    assert visited == list(times)
    widget.next_event()                                 # stays on the last one
    assert widget.selected_event()[1][0] == times[-1]
    widget.previous_event()
    assert widget.selected_event()[1][0] == times[-2]

    index, _ = widget.selected_event()
    _move_mouse(viewer, 7, 10.0, 50.0)
    widget.move_selected_to_cursor()
    np.testing.assert_allclose(events_layer.data[index], [7, 10, 50])
    assert len(events_layer.data) == len(times)


def test_keys_are_bound_in_the_viewer(review):
    from napari.utils.key_bindings import coerce_keybinding

    viewer, widget = review
    n = len(viewer.layers["events"].data)
    _move_mouse(viewer, 3, 20, 20)
    viewer.keymap[coerce_keybinding("E")](viewer)
    assert len(viewer.layers["events"].data) == n + 1
    for key in ("M", "N", "B"):
        assert coerce_keybinding(key) in viewer.keymap


def test_side_views_follow_the_cross_and_the_frame(review, simulation, qtbot):
    viewer, widget = review
    widget.follow_mouse.setChecked(True)
    _move_mouse(viewer, 20, 33, 17)
    assert widget.cross == (33, 17)
    row, column = viewer.layers["side views planes"].data
    assert np.allclose(row[:, 0], 33) and np.allclose(column[:, 1], 17)
    widget.draw_side_views()
    tx_image = widget.axes_tx.images[0].get_array()
    ty_image = widget.axes_ty.images[0].get_array()
    t0 = int(widget.axes_tx.get_ylim()[1] + 0.5)
    np.testing.assert_array_equal(tx_image, simulation.movie[t0:t0 + len(tx_image), 33, :])
    np.testing.assert_array_equal(ty_image, simulation.movie[t0:t0 + len(ty_image), :, 17])
    frame_line = [line for line in widget.axes_tx.lines if line.get_linestyle() == "--"][0]
    assert frame_line.get_ydata()[0] == 20

    class Click:  # what matplotlib passes on a click in the t-x view at frame 25, x = 40
        inaxes, xdata, ydata = widget.axes_tx, 40.2, 25.3

    widget._on_side_view_click(Click)
    assert viewer.dims.current_step[0] == 25
    assert widget.cross == (33, 40.2) and not widget.follow_mouse.isChecked()


def test_trace_of_the_selected_event_peaks_at_its_measured_dff(review, simulation):
    viewer, widget = review
    widget.go_to_event(1)
    widget.draw_side_views()
    frames, dff = widget.trace
    _, (t, y, x) = widget.selected_event()
    measured = measure_events(simulation.movie, pd.DataFrame({"t": [t], "y": [y], "x": [x]}))
    assert np.nanmax(dff[np.abs(frames - t) <= 3]) == pytest.approx(measured["peak_dff"].iloc[0])
    assert measured["peak_dff"].iloc[0] > 0.15                 # a real event: a clear rise
    assert abs(np.nanmedian(dff[frames < t - 3])) < 0.2         # flat before it


def test_event_trace_reads_only_a_box():
    movie = np.ones((30, 40, 40)) * 100
    movie[10:, 20, 20] += 50
    frames, dff = event_trace(movie, 10, 20, 20, before=5, after=5)
    assert list(frames) == list(range(5, 16))
    assert dff[frames == 9][0] == 0 and dff[frames == 10][0] > 0


def test_a_deleted_review_widget_leaves_the_viewer_working(make_napari_viewer, plugin, simulation, qtbot):
    from napari.utils.key_bindings import coerce_keybinding
    from qtpy.QtCore import QCoreApplication, QEvent

    viewer, dock, widget = _docked_review(make_napari_viewer, plugin, simulation)
    destroyed = []
    widget.destroyed.connect(lambda *_: destroyed.append(True))
    viewer.window.remove_dock_widget(dock)
    widget.deleteLater()                      # what Qt does to a dock widget closed for good
    del widget, dock
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qtbot.waitUntil(lambda: bool(destroyed), timeout=5000)
    assert coerce_keybinding("E") not in viewer.keymap
    with qtbot.captureExceptions() as exceptions:
        viewer.cursor.position = (3, 10, 10)
        viewer.dims.set_current_step(0, 4)
        viewer.add_points(np.array([[1.0, 2.0, 3.0]]), name="more events")
        viewer.layers["events"].data = viewer.layers["events"].data[:1]
        qtbot.wait(100)
    assert not exceptions


# ---- review as labelling -------------------------------------------------------------------------------------
#: Scores of the six events of the review tests: four true events of the simulation, two false detections.
SCORES = [0.95, 0.52, 0.10, 0.61, 0.40, 0.80]


@pytest.fixture
def detections(simulation):
    """The simulation's four true events and two false detections, with scores (as Detect gives them)."""
    true = simulation.events[["t", "y", "x"]].reset_index(drop=True)
    false = pd.DataFrame({"t": [6.0, 30.0], "y": [8.0, 55.0], "x": [50.0, 9.0]})
    events = pd.concat([true, false], ignore_index=True)
    events["class_label"] = 1
    events["score"] = SCORES
    events["cluster_size"] = [40, 22, 11, 30, 15, 35]
    return events


@pytest.fixture
def reviewing(make_napari_viewer, plugin, simulation, detections):
    from napari.layers import Layer

    viewer = make_napari_viewer()
    viewer.add_layer(Layer.create(*layers.movie_layer(simulation.movie, name="movie")))
    viewer.add_layer(Layer.create(*layers.events_layer(detections, name="movie events")))
    _, widget = viewer.window.add_plugin_dock_widget(plugin, "Review and annotate")
    return viewer, widget, viewer.layers["movie events"]


def _press(viewer, layer, key):
    """Press ``key`` as the viewer does with ``layer`` active: its own bindings, napari's, then the viewer's."""
    from napari.utils.key_bindings import KeymapHandler

    handler = KeymapHandler()
    handler.keymap_providers = [layer, viewer]
    assert handler.press_key(key)
    handler.release_key(key)


def test_keys_accept_reject_and_the_progress_line(reviewing):
    viewer, widget, layer = reviewing
    viewer.layers.selection.active = layer
    assert list(widget.review_states()) == ["unreviewed"] * 6
    assert widget.progress.text() == "<b>0 of 6 reviewed</b>"
    widget.advance.setChecked(False)

    widget.go_to_event(0)
    _press(viewer, layer, KEYS["accept"])          # A wins over napari's "select all in the slice"
    assert layer.selected_data == {0}
    widget.go_to_event(4)
    _press(viewer, layer, KEYS["reject"])
    _move_mouse(viewer, 17, 44.0, 12.0)
    _press(viewer, layer, KEYS["add"])
    assert list(widget.review_states()) == ["accepted", "unreviewed", "unreviewed", "unreviewed", "rejected",
                                            "unreviewed", "added"]
    assert len(layer.data) == 7                    # the rejected event stays in the layer
    assert widget.progress.text() == "<b>3 of 7 reviewed (1 accepted, 1 rejected, 1 added)</b>"

    widget.go_to_event(6)                          # accepting an added event keeps it added
    widget.accept_selected()
    assert widget.review_states()[6] == "added"
    layer.selected_data = {1, 2}                   # several at once
    widget.reject_selected()
    assert widget.progress.text() == "<b>5 of 7 reviewed (1 accepted, 3 rejected, 1 added)</b>"
    layer.selected_data = {2}
    widget.accept_selected()                       # a second thought
    assert list(widget.review_states()).count("rejected") == 2

    # each state its colour and symbol
    for index, state in enumerate(widget.review_states()):
        color, symbol = layers.REVIEW_STYLES[state]
        np.testing.assert_allclose(layer.border_color[index], to_rgba(color))
        assert str(layer.symbol[index].value) == symbol
    assert "rejected" in widget.info.text() or "accepted" in widget.info.text()

    cross = viewer.layers["side views planes"]     # active after a drag of its lines: R still rejects
    layer.selected_data = {5}
    _press(viewer, cross, KEYS["reject"])
    assert widget.review_states()[5] == "rejected" and cross.mode != "add_rectangle"


def test_next_most_uncertain_and_going_on_after_a_decision(reviewing):
    viewer, widget, layer = reviewing
    assert widget.threshold.value() == 0.5
    # |score - 0.5| = .45 .02 .40 .11 .10 .30: order 1, 4, 3, 5, 2, 0
    assert widget.next_uncertain_event() == 1
    assert viewer.dims.current_step[0] == int(round(layer.data[1][0]))
    assert widget.next_uncertain_event() == 4
    widget.accept_selected()                       # goes on along the uncertainty order
    assert widget.selected_event()[0] == 3
    widget.reject_selected()
    assert widget.selected_event()[0] == 5
    widget.threshold.setValue(0.7)                 # left: 0, 1, 2, 5; |score - 0.7| = .25 .18 .60 .10
    assert "|score − 0.70|" in widget.ranking.text()
    _press(viewer, layer, KEYS["uncertain"])       # U skips event 5: order 5, 1, 0, 2
    assert widget.selected_event()[0] == 1
    visited = []
    for _ in range(3):
        widget.accept_selected()
        visited.append(widget.selected_event()[0])
    assert visited == [0, 2, 5]                    # then back to the skipped one
    assert widget.progress.text() == "<b>5 of 6 reviewed (4 accepted, 1 rejected)</b>"
    widget.reject_selected()
    assert "All 6 events are reviewed" in widget.info.text()
    assert widget.next_uncertain_event() is None

    widget.go_to_event(0)                          # N goes on in time after A / R
    widget.next_event()
    times = layer.data[:, 0]
    after = widget.selected_event()[0]
    widget.accept_selected()
    assert widget.selected_event()[1][0] == np.sort(times)[list(np.sort(times)).index(times[after]) + 1]


def test_a_confidence_column_ranks_around_one_half(make_napari_viewer, plugin, simulation, detections):
    from napari.layers import Layer

    viewer = make_napari_viewer()
    viewer.add_layer(Layer.create(*layers.movie_layer(simulation.movie, name="movie")))
    detections["confidence"] = [0.50, 0.99, 0.30, 0.75, 0.05, 0.58]
    viewer.add_layer(Layer.create(*layers.events_layer(detections, name="events")))
    _, widget = viewer.window.add_plugin_dock_widget(plugin, "Review and annotate")
    widget.threshold.setValue(0.9)
    assert [widget.next_uncertain_event() for _ in range(3)] == [0, 5, 2]
    assert "confidence" in widget.ranking.text() and not widget.threshold.isEnabled()
    assert "confidence 0.30" in widget.info.text()


def test_states_survive_saving_and_reopening(reviewing, tmp_path):
    viewer, widget, layer = reviewing
    widget.advance.setChecked(False)
    for index, state in ((0, "accepted"), (1, "rejected"), (3, "accepted"), (4, "rejected")):
        widget.set_review_state(state, [index])
    _move_mouse(viewer, 17, 44.0, 12.0)
    widget.add_event_at_cursor()
    states = ["accepted", "rejected", "unreviewed", "accepted", "rejected", "unreviewed", "added"]
    assert list(widget.review_states()) == states

    csv = widget.save(tmp_path / "corrected_events.csv")
    saved = read_events(csv)
    assert list(saved["review"]) == states
    np.testing.assert_allclose(saved["score"].iloc[:6], SCORES)
    assert np.isnan(saved["score"].iloc[6]) and list(saved["cluster_size"].iloc[:6]) == [40, 22, 11, 30, 15, 35]
    assert "Saved 7 events" in widget.save_status.text() and "5 of 7 reviewed" in widget.save_status.text()

    xml = widget.save(tmp_path / "expert_annotation.xml")      # accepted and added events only
    annotation = read_events(xml)
    np.testing.assert_allclose(annotation[["t", "y", "x"]], layer.data[[0, 3, 6]], atol=1e-3)
    assert "left out: 2 rejected, 2 unreviewed" in widget.save_status.text()
    with_unreviewed = widget.save(tmp_path / "with_unreviewed.xml", include_unreviewed=True)
    assert len(read_events(with_unreviewed)) == 5

    # never replaces a file without the dialog's confirmation (overwrite=True)
    before = csv.read_bytes()
    widget.set_review_state("accepted", [2])
    assert widget.save(csv) is None and "exists" in widget.save_status.text()
    assert csv.read_bytes() == before
    assert widget.save(csv, overwrite=True) == csv
    assert list(read_events(csv)["review"])[2] == "accepted"

    # reopened (the reader, as a drag and drop does): states, colours and symbols are back
    (reopened,) = viewer.open(csv, plugin="exodeepfinder-torch")
    states[2] = "accepted"
    assert list(reopened.features["review"]) == states
    assert [str(symbol.value) for symbol in reopened.symbol] == [layers.REVIEW_STYLES[s][1] for s in states]
    widget.events_choice.set_layer(reopened)
    assert list(widget.review_states()) == states
    assert widget.progress.text() == "<b>6 of 7 reviewed (3 accepted, 2 rejected, 1 added)</b>"
    assert widget.default_save_path(".csv") == csv


def test_the_napari_writer_keeps_states_and_leaves_rejected_events_out_of_the_xml(reviewing, tmp_path):
    from exodeepfinder.gui._writer import write_events_csv, write_events_xml

    viewer, widget, layer = reviewing
    widget.set_review_state("rejected", [1, 2])
    widget.set_review_state("accepted", [0])
    attributes = {"features": layer.features}
    (csv,) = write_events_csv(str(tmp_path / "events.csv"), layer.data, attributes)
    assert list(read_events(csv)["review"]) == ["accepted", "rejected", "rejected"] + ["unreviewed"] * 3
    (xml,) = write_events_xml(str(tmp_path / "events.xml"), layer.data, attributes)
    np.testing.assert_allclose(read_events(xml)[["t", "y", "x"]], layer.data[[0, 3, 4, 5]], atol=1e-3)


def test_default_file_names_beside_the_movie(reviewing):
    viewer, widget, layer = reviewing
    assert widget.default_save_path(".csv").name == "corrected_events.csv"
    assert widget.default_save_path(".xml").name == "expert_annotation.xml"


def test_the_save_dialog_asks_about_unreviewed_events_and_replaces_only_after_confirming(reviewing, tmp_path,
                                                                                        monkeypatch):
    from qtpy.QtWidgets import QFileDialog, QMessageBox

    viewer, widget, layer = reviewing
    widget.set_review_state("accepted", [0, 3])
    widget.set_review_state("rejected", [1])
    target = tmp_path / "expert_annotation.xml"
    target.write_text("<objlist />")               # an older annotation: the dialog asked before replacing it
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(target), ""))
    answers = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kwargs: answers.pop(0))

    answers.append(QMessageBox.StandardButton.Cancel)
    assert widget.save_dialog(".xml") is None and target.read_text() == "<objlist />"
    answers.append(QMessageBox.StandardButton.No)
    assert widget.save_dialog(".xml") == target
    np.testing.assert_allclose(read_events(target)[["t", "y", "x"]], layer.data[[0, 3]], atol=1e-3)
    answers.append(QMessageBox.StandardButton.Yes)
    widget.save_dialog(".xml")
    assert len(read_events(target)) == 5           # all but the rejected one
    assert not answers
    csv = tmp_path / "corrected_events.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *args, **kwargs: (str(csv), ""))
    assert widget.save_dialog(".csv") == csv       # no question: the CSV holds every event and its state
    assert list(read_events(csv)["review"]) == ["accepted", "rejected", "unreviewed", "accepted", "unreviewed",
                                                "unreviewed"]


def test_the_detect_sliders_show_the_detection_again_unreviewed(reviewing, plugin, detections, qtbot):
    viewer, widget, layer = reviewing
    _, detect = viewer.window.add_plugin_dock_widget(plugin, "Detect events")
    detect.events = detections                     # what a detection leaves (no need to run the network here)
    detect.points_layer = layer
    widget.set_review_state("accepted", [0, 1])
    with qtbot.captureExceptions() as exceptions:
        detect.min_size.setEnabled(True)
        detect.min_size.setValue(20)               # hides the events of fewer than 20 voxels: 11 and 15
        qtbot.wait(50)
    assert not exceptions
    assert len(layer.data) == 4 and list(widget.review_states()) == ["unreviewed"] * 4
    assert widget.progress.text() == "<b>0 of 4 reviewed</b>" and widget.events_layer() is layer

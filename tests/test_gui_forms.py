"""Form windows generated from the commands' parsers: fields, arguments, running and cancelling a command."""

import argparse
import html
import os

import numpy as np
import pytest

from _gui import skip_without_gui  # noqa: E402

skip_without_gui("qtpy.QtWidgets", "pytestqt")

from qtpy.QtWidgets import QCheckBox, QComboBox, QPlainTextEdit  # noqa: E402

from exodeepfinder import progress  # noqa: E402
from exodeepfinder.gui import forms  # noqa: E402
from exodeepfinder.io.h5 import write_h5  # noqa: E402
from exodeepfinder.io.segmentation import read_segmentation  # noqa: E402
from exodeepfinder.simulation import simulate_movie  # noqa: E402


def _field(command, dest):
    return {f.dest: f for f in forms.parser_fields(forms.command_parser(command))}[dest]


def test_every_argument_of_every_command_has_a_field(qtbot):
    for name in forms.command_names():
        form = forms.CommandForm(name)
        qtbot.addWidget(form)
        expected = {a.dest for a in form.parser._actions
                    if a.dest != "help" and a.help is not argparse.SUPPRESS and not isinstance(a, argparse._VersionAction)}
        assert set(form.inputs) == expected, name
        for field in form.fields:
            widget = form.inputs[field.dest]
            assert html.escape(forms.expand_help(field.action)[:20]) in widget.toolTip(), (name, field.dest)
            if field.kind == "flag":
                assert isinstance(widget, QCheckBox) and widget.isChecked() == bool(field.action.default)
            elif field.kind == "choice":
                assert isinstance(widget, QComboBox)
                assert widget.currentText() == (field.default_text() or forms.DEFAULT_CHOICE)
                assert form.values()[field.dest] == field.default_text()
            else:
                assert widget.text() == field.default_text()


@pytest.mark.parametrize("command, dest, mode", [
    ("segment", "movie", "movie"), ("segment", "segmentation", "save"), ("segment", "batch", "folder"),
    ("segment", "model_weights", "open"), ("generate_annotation", "segmentation", "open"),
    ("generate_annotation", "annotation", "save"), ("convert_tiff_to_h5", "tiff", "folder"),
    ("convert_tiff_to_h5", "output", "save"), ("train", "dataset", "folder"), ("train", "output", "folder"),
    ("structure_training_dataset", "output", "folder"), ("merge_detector_expert", "expert_annotation", "open"),
    ("merge_detector_expert", "merged_annotation", "save"), ("evaluate", "pooled_batch", "folder"),
    ("detect", "movies", "movie"),
])
def test_path_arguments_get_the_right_chooser(command, dest, mode):
    assert _field(command, dest).path_mode == mode


def test_plain_arguments_are_not_paths():
    for command, dest in [("structure_training_dataset", "movie"), ("detect_spots", "detector_command"),
                          ("segment", "patch_size"), ("download_weights", "url")]:
        assert _field(command, dest).path_mode is None, (command, dest)
    assert _field("generate_annotation", "annotation").file_filter.startswith("XML (*.xml);;CSV (*.csv)")


def test_arguments_leave_defaults_out_and_parse_back(qtbot, tmp_path):
    form = forms.CommandForm("segment")
    qtbot.addWidget(form)
    movie = tmp_path / "my cell" / "movie.h5"
    form.set_value("movie", movie)
    form.set_value("save_scores", True)
    form.set_value("device", "cpu")
    form.set_value("patch_size", "96")
    argv = form.arguments()
    assert argv == ["--movie", str(movie), "--patch_size", "96", "--device", "cpu", "--save_scores"]
    args = form.parser.parse_args(argv)
    assert args.movie == movie and args.patch_size == 96 and args.save_scores and not args.overwrite
    assert args.segmentation == form.parser.get_default("segmentation")
    form.set_value("patch_size", "97")
    assert "patch_size" in form.check() and "multiple of 4" in form.check()


def test_list_arguments_are_split_like_a_shell():
    fields = forms.parser_fields(forms.command_parser("detect"))
    argv = forms.arguments(fields, {"movies": "'cell 1/movie.h5' cell2/tiff", "min_size": "20"})
    assert argv == ["--min_size", "20", "cell 1/movie.h5", "cell2/tiff"]


def test_umbrella_window_lists_every_command_with_a_help_menu(qtbot):
    window = forms.CommandWindow()
    qtbot.addWidget(window)
    assert window.windowTitle() == "ExoDeepFinder"
    listed = [window.actions_list.item(i).text() for i in range(window.actions_list.count())]
    assert listed == forms.command_names() and "segment" in listed and "train" in listed
    window.actions_list.setCurrentRow(listed.index("train"))
    assert window.current == "train"
    menus = {action.text(): action for action in window.menuBar().actions()}
    assert [a.text() for a in menus["&Help"].menu().actions()] == ["About", "Documentation"]
    window.documentation()
    assert "--dataset" in window._documentation.findChild(QPlainTextEdit).toPlainText()


def test_progress_bars_on_stderr_drive_the_progress_bar(qtbot):
    runner = forms.CommandRunner()
    qtbot.addWidget(runner)
    assert runner._progress_line("movie.h5: segmenting:  45%|████▌     | 9/20 [00:01<00:01,  7.9patch/s]")
    assert (runner.bar.value(), runner.bar.maximum()) == (9, 20)
    assert runner.bar_label.text() == "movie.h5: segmenting"
    assert not runner._progress_line("weights: bundled default model")


@pytest.fixture(scope="module")
def small_movie(tmp_path_factory):
    folder = tmp_path_factory.mktemp("form")
    movie = simulate_movie((24, 64, 64), n_events=3, seed=5).movie
    return write_h5(folder / "movie.h5", movie)


def _run(qtbot, window, timeout=600_000):
    window.run()
    assert window.runner.running, window.runner.status.text()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=timeout)
    return window.runner.exit_code


@pytest.mark.slow
def test_segment_form_gives_the_command_lines_output(qtbot, small_movie, tmp_path):
    from exodeepfinder.cli.main import main

    window = forms.CommandWindow("segment")
    qtbot.addWidget(window)
    assert window.windowTitle() == "ExoDeepFinder: edf_segment"
    form = window.form("segment")
    form.set_value("movie", small_movie)
    form.set_value("segmentation", tmp_path / "form_segmentation.h5")
    form.set_value("model_weights", "bundled")
    form.set_value("device", "cpu")
    assert _run(qtbot, window) == 0, window.runner.log.toPlainText()
    log = window.runner.log.toPlainText()
    assert "bundled" in log and "form_segmentation.h5" in log
    assert window.runner.status.text() == "Done" and window.runner.bar.value() == 100
    if hasattr(progress, "PROGRESS_ENV"):  # command-line progress bars drawn into a pipe when asked
        assert window.runner.progress_seen, "the command's progress bar did not reach the form"
        assert window.runner.progress_seen[-1][0] == window.runner.progress_seen[-1][1]

    assert main(["segment", "-m", str(small_movie), "-s", str(tmp_path / "cli_segmentation.h5"), "-mw", "bundled",
                 "--device", "cpu"]) == 0
    form_labels, _ = read_segmentation(tmp_path / "form_segmentation.h5")
    cli_labels, _ = read_segmentation(tmp_path / "cli_segmentation.h5")
    np.testing.assert_array_equal(form_labels, cli_labels)
    assert (form_labels == 2).any()


@pytest.mark.slow
def test_cancel_stops_the_command_and_leaves_no_output(qtbot, tmp_path):
    movie = write_h5(tmp_path / "movie.h5", simulate_movie((160, 128, 128), n_events=10, seed=6).movie)
    window = forms.CommandWindow("segment")
    qtbot.addWidget(window)
    form = window.form("segment")
    form.set_value("movie", movie)
    form.set_value("model_weights", "bundled")
    form.set_value("device", "cpu")
    form.set_value("precision", "fp32")
    window.run()
    qtbot.waitUntil(lambda: "segmenting" in window.runner.log.toPlainText() or not window.runner.running,
                    timeout=120_000)
    assert window.runner.running, window.runner.log.toPlainText()
    qtbot.wait(1500)
    window.runner.cancel()
    qtbot.waitUntil(lambda: not window.runner.running, timeout=120_000)
    assert window.runner.exit_code == forms.EXIT_CANCELLED, window.runner.log.toPlainText()
    assert window.runner.status.text().startswith("Cancelled")
    assert sorted(os.listdir(tmp_path)) == ["movie.h5"]          # no segmentation, no temporary file


def test_launch_opens_the_window_and_returns_when_closed(qtbot):
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    seen = []

    def close():
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, forms.CommandWindow) and w.isVisible()]
        seen.extend(w.windowTitle() for w in windows)
        for window in windows:
            window.close()

    QTimer.singleShot(500, close)
    assert forms.launch(None) == 0
    assert seen == ["ExoDeepFinder"]

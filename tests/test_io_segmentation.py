"""Segmentation files: streamed writing, the optional class scores, and reading them back."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from exodeepfinder.errors import InputError
from exodeepfinder.inference import SegmentedBlock
from exodeepfinder.io.segmentation import open_segmentation, write_segmentation_blocks

SHAPE = (10, 8, 12)


def blocks(labels, scores=None, step=4):
    for start in range(0, len(labels), step):
        stop = min(start + step, len(labels))
        yield SegmentedBlock(start, stop, labels[start:stop], None if scores is None else scores[start:stop])


@pytest.fixture
def segmentation():
    rng = np.random.default_rng(0)
    scores = rng.random((SHAPE[0], 3) + SHAPE[1:]).astype(np.float16)
    return scores.argmax(axis=1).astype(np.int8), scores


@pytest.mark.parametrize("save_scores", [False, True])
def test_round_trip(tmp_path, segmentation, save_scores):
    labels, scores = segmentation
    path = write_segmentation_blocks(tmp_path / "seg.h5", blocks(labels, scores if save_scores else None), SHAPE,
                              save_scores=save_scores)
    read_labels, read_scores = open_segmentation(path)
    try:
        assert read_labels.dtype == np.int8 and read_labels.compression == "gzip"
        np.testing.assert_array_equal(read_labels[()], labels)
        if save_scores:
            assert read_scores.dtype == np.float16
            np.testing.assert_array_equal(read_scores[()], scores)
        else:
            assert read_scores is None
    finally:
        read_labels.file.close()


def test_failed_write_leaves_nothing(tmp_path, segmentation):
    labels, _ = segmentation

    def failing():
        yield from blocks(labels[:4])
        raise RuntimeError("network failed")

    with pytest.raises(RuntimeError):
        write_segmentation_blocks(tmp_path / "seg.h5", failing(), SHAPE)
    assert list(tmp_path.iterdir()) == []


def test_scores_that_do_not_match_the_labels(tmp_path, segmentation):
    labels, scores = segmentation
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as handle:
        handle["dataset"] = labels
        handle["scores"] = scores[:, :, :4]
    with pytest.raises(InputError, match=r"bad\.h5: 'scores' of shape .* does not match labels"):
        open_segmentation(path)


def test_not_a_label_map(tmp_path):
    path = tmp_path / "flat.h5"
    with h5py.File(path, "w") as handle:
        handle["dataset"] = np.zeros((4, 4), np.int8)
    with pytest.raises(InputError, match=r"flat\.h5: expected a 3D label map"):
        open_segmentation(path)


def test_written_files_carry_the_marker_and_need_no_value_check(tmp_path, segmentation):
    from exodeepfinder.io.segmentation import SEGMENTATION_ATTRS, write_segmentation

    labels, scores = segmentation
    path = write_segmentation(labels, tmp_path / "seg.h5", scores=scores)
    with h5py.File(path, "r") as handle:
        assert dict(handle.attrs) == SEGMENTATION_ATTRS
        assert handle["dataset"].chunks[0] == 10 and handle["scores"].chunks[0] == 4
    with pytest.raises(FileExistsError):
        write_segmentation(labels, path, overwrite=False)


def test_reference_label_maps_without_marker_are_accepted(tmp_path, segmentation):
    labels, _ = segmentation
    with h5py.File(tmp_path / "reference.h5", "w") as handle:
        handle["dataset"] = labels.astype(np.uint8)
    read_labels, read_scores = open_segmentation(tmp_path / "reference.h5")
    try:
        np.testing.assert_array_equal(read_labels[:], labels)
    finally:
        read_labels.close()


@pytest.mark.parametrize("values, shown", [(np.full(SHAPE, 840, np.uint16), "840"),
                                           (np.full(SHAPE, 0.5, np.float32), "0.5"),
                                           (np.full(SHAPE, -1, np.int16), "-1")])
def test_a_movie_is_not_a_segmentation(tmp_path, values, shown):
    with h5py.File(tmp_path / "movie.h5", "w") as handle:
        handle["dataset"] = values
    labels, _ = open_segmentation(tmp_path / "movie.h5")
    with pytest.raises(InputError, match=rf"movie\.h5: not a segmentation: frame t=0 holds the value {shown}"):
        labels[:4]
    labels.close()


def test_blocks_of_any_length_are_written_in_whole_chunks(tmp_path):
    from exodeepfinder.io.segmentation import LABEL_CHUNK_FRAMES

    shape = (45, 4, 4)
    labels = (np.arange(45)[:, None, None] % 3 * np.ones(shape)).astype(np.int8)
    path = write_segmentation_blocks(tmp_path / "seg.h5", blocks(labels, step=7), shape)
    with h5py.File(path, "r") as handle:
        assert handle["dataset"].chunks[0] == LABEL_CHUNK_FRAMES
        np.testing.assert_array_equal(handle["dataset"][()], labels)

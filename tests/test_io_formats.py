"""Microscope files: OME-TIFF, MetaMorph, ImageJ, Zeiss CZI... read lazily, one channel and scene, with units.

The files are written by the formats' own writers: tifffile's OME-TIFF and ImageJ writers,
bioio's OmeTiffWriter, pylibCZIrw (Zeiss' CZI writer) and, for MetaMorph stacks (no writer
exists), tifffile with MetaMorph's UIC tags. No reader package ships sample movies of ND2, CZI
or LIF files (bioio-czi ships CZI metadata only, bioio-base OME metadata only), and no writer
of ND2 or LIF files exists in Python: those two go through the same bioio code as CZI.
"""

from __future__ import annotations

import struct
import sys

import numpy as np
import pandas as pd
import pytest
import tifffile

from exodeepfinder.errors import InputError
from exodeepfinder.events.measure import add_physical_units
from exodeepfinder.io import movie_choices, open_movie, read_movie, write_h5
from exodeepfinder.io.formats import open_bioio_movie
from exodeepfinder.simulation import simulate_movie

RNG = np.random.default_rng(7)
MOVIE = RNG.integers(100, 4000, (24, 2, 20, 28), dtype=np.uint16)  # t, c, y, x


def write_ome(path, data, axes="TCYX", **metadata):
    tifffile.imwrite(path, data, ome=True, metadata={"axes": axes, **metadata},
                     compression=metadata.pop("compression", None))
    return path


@pytest.fixture
def two_channels(tmp_path):
    return write_ome(tmp_path / "cell.ome.tif", MOVIE, Channel={"Name": ["GFP", "mCherry"]},
                     PhysicalSizeX=107, PhysicalSizeXUnit="nm", PhysicalSizeY=107, PhysicalSizeYUnit="nm",
                     TimeIncrement=50, TimeIncrementUnit="ms")


def test_ome_tiff_channel_by_name_or_index(two_channels):
    listed = r"cell\.ome\.tif: 2 channels \(0 'GFP', 1 'mCherry'\); choose one with channel"
    with pytest.raises(InputError, match=listed):
        open_movie(two_channels)
    for channel in ("mCherry", 1, "1"):
        with open_movie(two_channels, channel=channel) as movie:
            assert movie.shape == (24, 20, 28) and movie.dtype == np.uint16
            np.testing.assert_array_equal(movie[:], MOVIE[:, 1])
            np.testing.assert_array_equal(movie[5], MOVIE[5, 1])
            np.testing.assert_array_equal(movie[3:9, 2:5, ::2], MOVIE[3:9, 1, 2:5, ::2])
            np.testing.assert_array_equal(movie[[0, 7, 2]], MOVIE[[0, 7, 2], 1])
            assert movie.metadata.channel == "mCherry" and movie.metadata.channels == ("GFP", "mCherry")
            assert movie.pixel_size == pytest.approx((0.107, 0.107)) and movie.frame_interval == pytest.approx(0.05)
            assert movie.metadata.format == "ome-tiff"
    np.testing.assert_array_equal(read_movie(two_channels, channel="GFP"), MOVIE[:, 0])
    with pytest.raises(InputError, match=r"no channel named 'DAPI'; the file has 2 channels: 0 'GFP', 1 'mCherry'"):
        open_movie(two_channels, channel="DAPI")
    with pytest.raises(InputError, match=r"no channel 2; the file has 2 channels"):
        open_movie(two_channels, channel=2)


def test_ome_tiff_scenes_written_by_bioio(tmp_path):
    pytest.importorskip("bioio_ome_tiff")
    from bioio_base.types import PhysicalPixelSizes
    from bioio_ome_tiff.writers import OmeTiffWriter

    a = RNG.integers(0, 500, (15, 2, 1, 24, 30), dtype=np.uint16)
    b = RNG.integers(0, 500, (12, 2, 1, 20, 26), dtype=np.uint16)
    path = tmp_path / "scenes.ome.tiff"
    OmeTiffWriter.save([a, b], path, dim_order="TCZYX", channel_names=[["pHluorin", "mCherry"]] * 2,
                       image_name=["cell A", "cell B"], physical_pixel_sizes=[PhysicalPixelSizes(1.0, 0.11, 0.11)] * 2)
    with pytest.raises(InputError, match=r"2 scenes \(0 'cell A', 1 'cell B'\); choose one with scene"):
        open_movie(path, channel=0)
    with open_movie(path, scene="cell B", channel="pHluorin") as movie:
        np.testing.assert_array_equal(movie[:], b[:, 0, 0])
        assert movie.metadata.scene == "cell B" and movie.pixel_size == pytest.approx((0.11, 0.11))
        assert movie.frame_interval is None  # the writer records no time step
    with open_movie(path, scene="Image:0", channel=1) as movie:  # the OME image ID works too
        np.testing.assert_array_equal(movie[2:4], a[2:4, 1, 0])
    assert movie_choices(path) == {"scenes": ("cell A", "cell B"), "channels": ("pHluorin", "mCherry")}


def test_compressed_ome_tiff_reads_only_the_frames_asked_for(tmp_path, monkeypatch):
    path = write_ome(tmp_path / "zlib.ome.tif", MOVIE, compression="zlib")
    pages_read = []
    original = tifffile.TiffFile.asarray

    def spy(self, key=None, *args, **kwargs):
        pages_read.append(list(key))
        return original(self, key, *args, **kwargs)

    monkeypatch.setattr(tifffile.TiffFile, "asarray", spy)
    with open_movie(path, channel=1) as movie:
        np.testing.assert_array_equal(movie[10:13], MOVIE[10:13, 1])
        np.testing.assert_array_equal(movie[4, :3], MOVIE[4, 1, :3])
    # pages are stored t by t, channel by channel: frame t of channel 1 is page 2 t + 1
    assert pages_read == [[21, 23, 25], [9]]


def test_ome_tiff_frame_interval_from_plane_times(tmp_path):
    data = RNG.integers(0, 500, (10, 16, 16), dtype=np.uint16)
    path = write_ome(tmp_path / "planes.ome.tif", data, axes="TYX",
                     Plane={"DeltaT": [0.2 * i for i in range(10)], "DeltaTUnit": ["s"] * 10})
    with open_movie(path) as movie:
        assert movie.frame_interval == pytest.approx(0.2) and movie.pixel_size is None


def test_z_planes_are_refused_with_an_explanation(tmp_path):
    zstack = write_ome(tmp_path / "zstack.ome.tif", MOVIE[:, 0], axes="ZYX")
    with pytest.raises(InputError, match=r"zstack\.ome\.tif: 24 Z planes and 1 time point: a z-stack, not a movie"):
        open_movie(zstack)
    timelapse3d = write_ome(tmp_path / "tz.ome.tif", MOVIE.reshape(12, 2, 2, 20, 28)[:, :, 0], axes="TZYX")
    with pytest.raises(InputError, match=r"12 time points of 2 Z planes each \(a 3D time-lapse\)"):
        open_movie(timelapse3d)
    single = write_ome(tmp_path / "single.ome.tif", MOVIE[0, 0], axes="YX")
    with pytest.raises(InputError, match="a single image"):
        open_movie(single)
    # a Z axis of size 1 is no problem
    flat = write_ome(tmp_path / "tz1.ome.tif", MOVIE[:, :1], axes="TZYX")
    np.testing.assert_array_equal(read_movie(flat), MOVIE[:, 0])


def test_nan_pixel_in_a_microscope_file_names_the_frame(tmp_path):
    data = MOVIE.astype(np.float32)
    data[6, 1, 3, 4] = np.nan
    path = write_ome(tmp_path / "float.ome.tif", data, compression="zlib")
    with open_movie(path, channel=0) as movie:
        movie[:]  # the NaN is in the other channel
    with open_movie(path, channel=1) as movie, pytest.raises(InputError, match=r"frame t=6 has 1 NaN pixel"):
        movie[4:8]


def write_metamorph(path, movie, *, calibration_um, interval_ms):
    """A MetaMorph stack: one IFD with the UIC tags, the planes one after the other after the first."""
    n = len(movie)
    uic1 = struct.pack("<2I", 0, 0)  # AutoScale = 0
    numerator = int(round(calibration_um * 1e6))
    units = b"um\x00"
    uic4 = struct.pack("<H2I", 4, numerator, 10 ** 6) + struct.pack("<H2I", 5, numerator, 10 ** 6)
    uic4 += struct.pack("<HI", 6, len(units)) + units + struct.pack("<H", 0)
    uic4 += b"\x00" * (-len(uic4) % 4)
    uic4 += b"\x00" * max(0, 4 * n - len(uic4))
    # per plane: Z distance (fraction), creation date (julian day) and time (ms), modification date and time
    times = [36_000_000 + int(round(i * interval_ms)) for i in range(n)]
    uic2 = np.asarray([(0, 1, 2460000, ms, 2460000, ms) for ms in times], "<u4").tobytes()
    tifffile.imwrite(path, movie[0], metadata=None, extratags=[(33628, 4, 1, uic1, True), (33629, 5, n, uic2, True),
                                                                (33631, 4, len(uic4) // 4, uic4, True)])
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        uic2_entry = page.tags[33629].offset
        assert page.dataoffsets[0] + page.databytecounts[0] == path.stat().st_size
    with open(path, "r+b") as handle:
        handle.seek(uic2_entry + 4)  # MetaMorph counts one UIC2 entry (6 numbers) per plane
        handle.write(struct.pack("<I", n))
        handle.seek(0, 2)
        handle.write(np.ascontiguousarray(movie[1:]).tobytes())
    return path


def test_metamorph_stack(tmp_path):
    data = MOVIE[:, 0]
    path = write_metamorph(tmp_path / "stream.stk", data, calibration_um=0.160, interval_ms=30)
    with tifffile.TiffFile(path) as tif:
        assert tif.is_stk and tif.series[0].shape == data.shape  # tifffile sees a MetaMorph stack
    with open_movie(path) as movie:
        np.testing.assert_array_equal(movie[:], data)
        assert movie.pixel_size == pytest.approx((0.16, 0.16)) and movie.frame_interval == pytest.approx(0.03)
        assert movie.metadata.format == "metamorph"


def test_imagej_hyperstack_and_plain_stack(tmp_path):
    hyperstack = tmp_path / "hyper.tif"
    tifffile.imwrite(hyperstack, MOVIE, imagej=True, resolution=(1 / 0.13, 1 / 0.13),
                     metadata={"axes": "TCYX", "unit": "um", "finterval": 0.1})
    with pytest.raises(InputError, match="2 channels"):
        open_movie(hyperstack)
    with open_movie(hyperstack, channel=1) as movie:
        np.testing.assert_array_equal(movie[:], MOVIE[:, 1])
        assert movie.pixel_size == pytest.approx((0.13, 0.13)) and movie.frame_interval == pytest.approx(0.1)
    # Fiji saves a plain stack's frames as slices: still a movie, memory-mapped as before, with its units
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, MOVIE[:, 0], imagej=True, resolution=(1 / 0.2, 1 / 0.2),
                     metadata={"axes": "ZYX", "unit": "micron"})
    with open_movie(stack) as movie:
        assert isinstance(movie.source, np.memmap)
        np.testing.assert_array_equal(movie[:], MOVIE[:, 0])
        assert movie.pixel_size == pytest.approx((0.2, 0.2)) and movie.frame_interval is None
    # tifffile labels the planes of a 3D array channels; Fiji escapes the micro sign
    labelled_channels = tmp_path / "channels.tif"
    tifffile.imwrite(labelled_channels, MOVIE[:, 0], imagej=True, resolution=(10, 10),
                     metadata={"unit": "\\u00B5m", "finterval": 0.5})
    with open_movie(labelled_channels) as movie:
        np.testing.assert_array_equal(movie[:], MOVIE[:, 0])
        assert movie.pixel_size == pytest.approx((0.1, 0.1)) and movie.frame_interval == pytest.approx(0.5)
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, MOVIE[:, 0])
    with open_movie(plain) as movie:
        assert isinstance(movie.source, np.memmap) and movie.pixel_size is None and movie.metadata.format == "tiff"


def test_files_without_channels_accept_only_the_first(tmp_path):
    path = tmp_path / "movie.h5"
    write_h5(path, MOVIE[:, 0])
    with open_movie(path, channel=0, scene="0") as movie:
        assert movie.shape == (24, 20, 28) and movie.metadata.format == "hdf5" and movie.pixel_size is None
    with pytest.raises(InputError, match=r"movie\.h5: no channel 'GFP': the file has a single channel"):
        open_movie(path, channel="GFP")
    assert movie_choices(path) == {"scenes": (), "channels": ()}


def write_czi(path, data, channel_names, pixel_size_um):
    from pylibCZIrw import czi as pyczi

    with pyczi.create_czi(str(path), exist_ok=True) as czi:
        for t in range(data.shape[0]):
            for c in range(data.shape[1]):
                czi.write(data[t, c][..., None], plane={"T": t, "C": c, "Z": 0})
        czi.write_metadata(channel_names=dict(enumerate(channel_names)), scale_x=pixel_size_um * 1e-6,
                           scale_y=pixel_size_um * 1e-6)
    return path


@pytest.fixture
def czi_file(tmp_path):
    pytest.importorskip("bioio_czi")
    pytest.importorskip("pylibCZIrw")
    return write_czi(tmp_path / "cell.czi", MOVIE, ["EGFP", "mScarlet"], 0.108)


def test_zeiss_czi_through_bioio(czi_file, monkeypatch):
    with pytest.raises(InputError, match=r"cell\.czi: 2 channels \(0 'EGFP', 1 'mScarlet'\)"):
        open_movie(czi_file)
    with open_movie(czi_file, channel="mScarlet") as movie:
        assert movie.metadata.format == "bioio-czi" and movie.shape == (24, 20, 28)
        assert movie.pixel_size == pytest.approx((0.108, 0.108))
        assert movie.frame_interval is None  # pylibCZIrw writes no acquisition times
        frames_read = []
        reader = movie.source._reader
        original = reader.get_image_data
        monkeypatch.setattr(reader, "get_image_data",
                            lambda order, **k: frames_read.append(k["T"]) or original(order, **k))
        np.testing.assert_array_equal(movie[7:10], MOVIE[7:10, 1])
        np.testing.assert_array_equal(movie[3, 4:6], MOVIE[3, 1, 4:6])
        assert frames_read == [[7, 8, 9], [3]]  # only the frames asked for
        np.testing.assert_array_equal(movie[:], MOVIE[:, 1])


def test_bioio_dask_path_matches_the_tiff_reader(two_channels):
    """Readers without indexed reads (LIF, bioio's TIFF readers) go through their dask array."""
    ome_reader = pytest.importorskip("bioio_ome_tiff").Reader
    frames, metadata = open_bioio_movie(two_channels, "GFP", None, reader=ome_reader)
    np.testing.assert_array_equal(frames[3:11], MOVIE[3:11, 0])
    np.testing.assert_array_equal(frames[2], MOVIE[2, 0])
    assert metadata.channels == ("GFP", "mCherry") and metadata.format == "bioio-ome-tiff"


def test_damaged_or_unreadable_microscope_files(tmp_path, monkeypatch):
    pytest.importorskip("bioio_nd2")
    (tmp_path / "garbage.nd2").write_bytes(b"this is no nikon file" * 100)
    with pytest.raises(InputError, match=r"garbage\.nd2: not a readable Nikon ND2 file"):
        open_movie(tmp_path / "garbage.nd2")
    monkeypatch.setitem(sys.modules, "bioio", None)  # as without the extra
    with pytest.raises(InputError, match=r"reading Nikon ND2 needs the microscope formats extra: "
                                         r"pip install 'exodeepfinder-torch\[formats\]'"):
        open_movie(tmp_path / "garbage.nd2")


def test_unit_columns():
    events = pd.DataFrame({"t": [2.0, 10.0], "y": [5.0, 7.5], "x": [1.0, 4.0], "class_label": [1, 1],
                           "decay_tau": [3.0, np.nan], "duration": [4, 6], "spot_sigma": [1.5, 2.0]})
    both = add_physical_units(events, pixel_size=(0.1, 0.2), frame_interval=0.05)
    assert list(both.columns) == ["t", "t_s", "y", "y_um", "x", "x_um", "class_label", "decay_tau", "decay_tau_s",
                                  "duration", "duration_s", "spot_sigma", "spot_sigma_um"]
    np.testing.assert_allclose(both.t_s, [0.1, 0.5])
    np.testing.assert_allclose(both.y_um, [0.5, 0.75])
    np.testing.assert_allclose(both.x_um, [0.2, 0.8])
    np.testing.assert_allclose(both.decay_tau_s, [0.15, np.nan])
    np.testing.assert_allclose(both.duration_s, [0.2, 0.3])
    np.testing.assert_allclose(both.spot_sigma_um, np.array([1.5, 2.0]) * np.sqrt(0.02))
    # what the file does not say is left out, not filled with NaN
    lengths_only = add_physical_units(events, pixel_size=0.1)
    assert {"y_um", "x_um", "spot_sigma_um"} <= set(lengths_only) and not {"t_s", "duration_s"} & set(lengths_only)
    assert add_physical_units(events).equals(events)
    with pytest.raises(ValueError, match="pixel_size"):
        add_physical_units(events, pixel_size=0)


def test_cli_asks_for_the_channel_in_one_line(two_channels, capsys):
    from exodeepfinder.cli import detect

    assert detect.main([str(two_channels), "-mw", "bundled"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"error: {two_channels}: 2 channels (0 'GFP', 1 'mCherry'); choose one with channel "
                     "(a name or an index)"]
    assert not list(two_channels.parent.glob("cell.ome_*"))


@pytest.mark.slow
def test_detect_on_an_ome_tiff_channel_gives_the_events_of_the_movie_with_units(tmp_path, network_weights):
    """The same events from channel 1 of an OME-TIFF as from the movie in HDF5, and their units."""
    from exodeepfinder.cli import detect

    simulation = simulate_movie((48, 64, 64), n_events=6, n_spots=10, n_flashes=0, n_flickers=0, n_moving=0, seed=21)
    other_channel = RNG.integers(90, 110, simulation.movie.shape, dtype=np.uint16)
    (tmp_path / "ome").mkdir()
    ome = write_ome(tmp_path / "ome" / "cell.ome.tif", np.stack([other_channel, simulation.movie], axis=1),
                    Channel={"Name": ["DIC", "pHluorin"]}, PhysicalSizeX=0.16, PhysicalSizeY=0.16, TimeIncrement=0.05)
    h5 = tmp_path / "h5" / "cell.h5"
    h5.parent.mkdir()
    write_h5(h5, simulation.movie)
    options = ["-mw", str(network_weights), "--offset", "100", "--gallery_size", "0"]
    assert detect.main([str(ome), "--channel", "pHluorin"] + options) == 0
    assert detect.main([str(h5)] + options) == 0
    from_ome = pd.read_csv(tmp_path / "ome" / "cell.ome_events.csv")
    from_h5 = pd.read_csv(tmp_path / "h5" / "cell_events.csv")
    assert len(from_ome) >= 4
    pd.testing.assert_frame_equal(from_ome[from_h5.columns], from_h5)
    np.testing.assert_allclose(from_ome.t_s, from_ome.z * 0.05, rtol=1e-5)
    np.testing.assert_allclose(from_ome.x_um, from_ome.x * 0.16, rtol=1e-5)
    np.testing.assert_allclose(from_ome.y_um, from_ome.y * 0.16, rtol=1e-5)
    np.testing.assert_allclose(from_ome.decay_tau_s, from_ome.decay_tau * 0.05, rtol=1e-5)
    assert "t_s" not in from_h5.columns and "x_um" not in from_h5.columns

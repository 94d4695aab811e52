"""Event files: the reference XML and CSV object lists, round trips through the DataFrame."""

import pandas as pd
import pytest

from exodeepfinder.errors import InputError
from exodeepfinder.io.events import EVENT_COLUMNS, make_events, read_events, write_events

# the example of the ExoDeepFinder user manual (expert_annotation.xml)
REFERENCE_XML = """<objlist>
  <object tomo_idx="0" class_label="1" x="71" y="152" z="470"/>
  <object tomo_idx="0" class_label="1" x="76" y="184" z="445"/>
  <object tomo_idx="0" class_label="1" x="141" y="150" z="400"/>
  <object tomo_idx="0" class_label="1" x="200" y="237" z="420"/>
  <object tomo_idx="0" class_label="1" x="95" y="229" z="438"/>
</objlist>
"""


def test_reads_the_reference_example(tmp_path):
    path = tmp_path / "expert_annotation.xml"
    path.write_text(REFERENCE_XML)
    events = read_events(path)
    assert list(events.columns) == EVENT_COLUMNS
    assert list(events["t"]) == [470, 445, 400, 420, 438]  # z is the frame
    assert list(events["y"]) == [152, 184, 150, 237, 229]
    assert list(events["x"]) == [71, 76, 141, 200, 95]
    assert (events["class_label"] == 1).all() and events["class_label"].dtype.kind == "i"


def test_xml_csv_dataframe_round_trips(tmp_path):
    events = make_events([470.25, 3], [152.5, 7], [71.125, 9], class_label=[1, 2], obj_id=[0, 1],
                         cluster_size=[63, 12], score=[0.875, 0.5])
    xml = write_events(events, tmp_path / "a.xml")
    text = xml.read_text()
    assert '<object tomo_idx="0" class_label="1" x="71.125" y="152.500" z="470.250" obj_id="0" ' \
           'cluster_size="63" score="0.875" />' in text
    from_xml = read_events(xml)
    pd.testing.assert_frame_equal(from_xml[events.columns], events, check_dtype=False)
    csv = write_events(from_xml, tmp_path / "a.csv")
    assert csv.read_text().splitlines()[0] == "tomo_idx,class_label,x,y,z,obj_id,cluster_size,score"
    from_csv = read_events(csv)
    pd.testing.assert_frame_equal(from_csv[events.columns], events, check_dtype=False)
    again = read_events(write_events(from_csv, tmp_path / "b.xml"))
    pd.testing.assert_frame_equal(again, from_xml)


def test_csv_keeps_measurement_columns_and_xml_the_reference_ones(tmp_path):
    events = make_events([1], [2], [3], decay_tau=[2.5], measure_note=["ok"])
    back = read_events(write_events(events, tmp_path / "m.csv"))
    assert back["decay_tau"].iloc[0] == 2.5 and back["measure_note"].iloc[0] == "ok"
    assert "decay_tau" not in read_events(write_events(events, tmp_path / "m.xml")).columns


def test_spreadsheet_csv_with_bom_and_without_class_label(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufefftomo_idx,class_label,x,y,z\n0,1,10,20,30\n".encode("utf-8"))
    assert read_events(path).iloc[0][["t", "y", "x"]].tolist() == [30, 20, 10]
    path.write_text("x,y,z\n1,2,3\n")
    assert read_events(path)["class_label"].tolist() == [1]


def test_empty_lists_round_trip(tmp_path):
    for name in ("e.xml", "e.csv"):
        back = read_events(write_events(make_events(), tmp_path / name))
        assert len(back) == 0 and list(back.columns[:4]) == EVENT_COLUMNS


@pytest.mark.parametrize("content, message", [
    ("tomo_idx,class_label,x,y\n0,1,1,2\n", "missing column"),
    ("x,y,z\n1,2,abc\n", "non-numeric z"),
    ("class_label,x,y,z\n1.5,1,2,3\n", "invalid class_label"),
    ("", "empty file"),
])
def test_bad_csv_gives_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        read_events(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_events(tmp_path / "missing.xml")
    (tmp_path / "broken.xml").write_text("<objlist><object x='1'")
    with pytest.raises(InputError, match="not valid XML"):
        read_events(tmp_path / "broken.xml")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(InputError, match="unknown annotation format"):
        read_events(tmp_path / "a.txt")


@pytest.mark.parametrize("content", [
    b"\xef\xbb\xbftomo_idx,class_label,x,y,z\n0,1,1.5,2,3\n",
    "tomo_idx;class_label;x;y;z\n0;1;1,5;2;3\n".encode(),
    b"tomo_idx\tclass_label\tx\ty\tz\n0\t1\t1.5\t2\t3\n",
    b" X , Y ,Z,Class_Label\n1.5,2,3,1\n",
])
def test_spreadsheet_dialects(tmp_path, content):
    path = tmp_path / "events.csv"
    path.write_bytes(content)
    events = read_events(path)
    assert events[["t", "y", "x", "class_label"]].values.tolist() == [[3, 2, 1.5, 1]]


@pytest.mark.parametrize("suffix, content, message", [
    (".xml", "<points/>", "not an object list"),
    (".csv", "x,y,z\n1,,3\n", "event 1 has no y"),
    (".csv", "x,y,z\n1,2,-inf\n", "event 1 has a non-finite z"),
    (".csv", "a;b\n1;2\n", r"missing column\(s\) x, y, z \(found: a, b"),
])
def test_bad_event_files(tmp_path, suffix, content, message):
    path = tmp_path / f"events{suffix}"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_events(path)


def test_review_states_survive_csv(tmp_path):
    from exodeepfinder.io.events import kept_events, make_events, read_events, write_events
    events = make_events([1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], score=[0.9, 0.2, 0.5, float("nan")],
                         review=["accepted", "rejected", None, "added"])
    path = write_events(events, tmp_path / "corrected_events.csv")
    back = read_events(path)
    assert list(back["review"]) == ["accepted", "rejected", "unreviewed", "added"]
    assert list(kept_events(back)["t"]) == [1.0, 3.0, 4.0]


def test_unknown_review_state_is_a_one_line_error(tmp_path):
    import pytest
    from exodeepfinder.errors import InputError
    from exodeepfinder.io.events import read_events
    path = tmp_path / "bad.csv"
    path.write_text("tomo_idx,class_label,x,y,z,review\n0,1,1,2,3,maybe\n")
    with pytest.raises(InputError, match="bad.csv: event 1 has an unknown review state 'maybe'"):
        read_events(path)

"""Files from elsewhere: CSV cells that a spreadsheet would run are escaped, XML is parsed without entities."""

from __future__ import annotations

import pandas as pd
import pytest

from exodeepfinder.errors import InputError
from exodeepfinder.io.events import read_events, write_events
from exodeepfinder.io.tables import write_csv


def test_text_cells_that_look_like_formulas_are_escaped_and_read_back(tmp_path):
    events = pd.DataFrame({"t": [1, 2, 3], "y": [5.0, -6.5, 7.0], "x": [6.0, 3.0, 2.0], "class_label": [2, 2, 2],
                           "note": ['=HYPERLINK("http://evil","x")', "+1+2", "ok"],
                           "offset": [-1.5, 2.0, -3.0]})
    path = write_events(events, tmp_path / "events.csv")
    text = path.read_text()
    assert "'=HYPERLINK" in text and "'+1+2" in text
    assert ",-1.5" in text and "\n'-" not in text  # numbers stay numbers
    back = read_events(path)
    assert list(back["note"]) == list(events["note"])
    assert list(back["offset"]) == [-1.5, 2.0, -3.0]
    table = write_csv(pd.DataFrame({"movie": ["@SUM(A1)", "cell1"], "f1": [0.5, -0.25]}), tmp_path / "t.csv")
    assert table.read_text().splitlines() == ["movie,f1", "'@SUM(A1),0.5", "cell1,-0.25"]


BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<objlist><object tomo_idx="0" class_label="1" x="&lol2;" y="1" z="1"/></objlist>
"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE objlist [<!ENTITY secret SYSTEM "file:///etc/hostname">]>
<objlist><object tomo_idx="0" class_label="1" x="1" y="1" z="1" note="&secret;"/></objlist>
"""


@pytest.mark.parametrize("text", [BOMB, EXTERNAL], ids=["entity expansion", "external entity"])
def test_xml_with_entities_is_refused(tmp_path, text):
    path = tmp_path / "events.xml"
    path.write_text(text)
    with pytest.raises(InputError, match="events.xml: refused XML"):
        read_events(path)


def test_the_napari_reader_does_not_take_an_xml_bomb_for_events(tmp_path):
    pytest.importorskip("napari")
    from exodeepfinder.gui._reader import _is_object_list

    path = tmp_path / "events.xml"
    path.write_text(BOMB)
    assert not _is_object_list(path)

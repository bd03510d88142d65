import json

from streams.datasets.files import ColumnMap, load_file
from streams.schemas.errors import Reason
from streams.settings import EventLimits


def test_csv_with_column_mapping_sorted_by_time(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("who,what,stars,when\nalice,m1,4,20\nbob,m2,5,10\ncarol,m3,9,30\n")
    events, rejected = load_file(
        path, "csv", ColumnMap(user="who", item="what", rating="stars", ts="when"), EventLimits()
    )
    assert [(e.user_id, e.ts) for e in events] == [("bob", 10.0), ("alice", 20.0)]
    assert [(row, err.reason) for row, err in rejected] == [(3, Reason.RATING_OUT_OF_RANGE)]


def test_tsv_and_jsonl(tmp_path):
    tsv = tmp_path / "r.tsv"
    tsv.write_text("user_id\titem_id\trating\tts\nu\ti\t3\t1\n")
    jsonl = tmp_path / "r.jsonl"
    lines = [{"user_id": "u", "item_id": "i", "op": "delete", "ts": "2020-01-01T00:00:00Z"}]
    jsonl.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert load_file(tsv, "tsv", ColumnMap(), EventLimits())[0][0].rating == 3.0
    deleted = load_file(jsonl, "jsonl", ColumnMap(), EventLimits())[0][0]
    assert deleted.op == "delete" and deleted.ts == 1577836800.0

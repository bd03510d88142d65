"""``streamrec eval`` end to end on a prefix: the report files, every model, the peers."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_eval_writes_json_markdown_and_plot(tmp_path):
    cmd = [sys.executable, "-m", "streams.cli", "eval", "--limit", "3000", "--out", str(tmp_path),
           "--tuning-events", "1000", "--window", "500"]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (folder,) = tmp_path.iterdir()
    report = json.loads((folder / "eval.json").read_text())
    assert report["events"] == 3000
    models = set(report["prequential"])
    assert {"popular", "item-cf", "user-cf", "blend", "river-biasedmf"} <= models
    for name in ("popular", "item-cf", "blend"):
        m = report["prequential"][name]
        assert m["tests"] > 500 and 0 <= m["hit_rate"] <= 1 and 0 <= m["ndcg"] <= m["hit_rate"]
    assert report["held_out"]["blend"]["tests"] < report["prequential"]["blend"]["tests"]
    assert 0.5 < report["prequential"]["river-baseline"]["rmse"] < 2
    assert set(report["temporal"]) == {
        "streamrec user-cf",
        "surprise-knnwithmeans",
        "surprise-svd",
    }
    assert report["series"] and "blend" in report["series"][-1]
    assert (folder / "eval.png").stat().st_size > 10_000
    assert "| item-cf |" in (folder / "eval.md").read_text()
    assert "Published anchors" in result.stdout

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_produce_a_csv_file_and_count_it_back(worker_settings, topics, tmp_path):
    path = tmp_path / "ratings.csv"
    rows = [f"u{n % 7},i{n},{1 + n % 5},{1000 + n}" for n in range(250)]
    path.write_text("user,item,stars,time\n" + "\n".join(rows) + "\nu1,i1,11,5\n")
    env = {
        **os.environ,
        "STREAMREC_KAFKA__BOOTSTRAP_SERVERS": worker_settings.kafka.bootstrap_servers,
    }
    result = subprocess.run(
        [
            sys.executable, "-m", "streams.cli", "produce", "--file", str(path),
            "--user-col", "user", "--item-col", "item", "--rating-col", "stars",
            "--ts-col", "time", "--topic", topics.ratings, "--verify", "--quiet",
        ],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "produced 250 events" in result.stdout
    assert "counted back 250 records" in result.stdout and "OK" in result.stdout
    assert "1 rows rejected" in result.stderr

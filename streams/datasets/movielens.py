"""MovieLens-100K, obtained at run time from the ``recbole==1.2.1`` wheel on PyPI.

The wheel ships ``recbole/dataset_example/ml-100k/ml-100k.{inter,item,user}``. We download
it with ``pip download --no-deps``, check its SHA-256, extract only those three files into
the cache and verify the row counts. The data is never committed to the repository.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from streams.schemas.items import ItemEvent
from streams.schemas.ratings import RatingEvent

WHEEL = "recbole==1.2.1"
WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
MEMBER_DIR = "recbole/dataset_example/ml-100k/"
EXPECTED_ROWS = {"ml-100k.inter": 100_000, "ml-100k.item": 1_682, "ml-100k.user": 943}


class DatasetError(RuntimeError):
    pass


def _data_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip()) - 1  # minus the header


def ensure_ml100k(cache_dir: Path) -> Path:
    """Return the folder holding the three ML-100K files, fetching them on first use."""
    target = cache_dir.expanduser() / "ml-100k"
    if all((target / n).exists() and _data_rows(target / n) == r for n, r in EXPECTED_ROWS.items()):
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL]
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("recbole-*.whl"))
        if result.returncode != 0 or not wheels:
            raise DatasetError(f"pip download {WHEEL} failed:\n{result.stderr[-2000:]}")
        digest = hashlib.sha256(wheels[0].read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise DatasetError(f"{wheels[0].name} has SHA-256 {digest}, expected {WHEEL_SHA256}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in EXPECTED_ROWS:
                (target / name).write_bytes(wheel.read(MEMBER_DIR + name))
    for name, rows in EXPECTED_ROWS.items():
        if (found := _data_rows(target / name)) != rows:
            raise DatasetError(f"{name} has {found} rows, expected {rows}")
    return target


def load_ratings(folder: Path) -> list[RatingEvent]:
    """All 100,000 ratings in timestamp order (ties keep the file's order)."""
    events = []
    with (folder / "ml-100k.inter").open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            user, item, rating, ts = line.rstrip("\n").split("\t")
            events.append(RatingEvent(user, item, float(rating), float(ts)))
    events.sort(key=lambda e: e.ts)
    return events


def load_items(folder: Path) -> list[ItemEvent]:
    """1,682 movies with title, release year and genres, as ``items`` topic records."""
    items = []
    with (folder / "ml-100k.item").open(encoding="utf-8", errors="replace") as handle:
        next(handle)
        for line in handle:
            item_id, title, year, genres = ([*line.rstrip("\n").split("\t"), "", "", ""])[:4]
            attributes: dict[str, object] = {"genres": genres.split() if genres else []}
            if year.strip().isdigit():
                attributes["year"] = int(year)
            items.append(ItemEvent(item_id, title.strip(), attributes))
    return items

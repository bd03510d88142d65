import itertools
from pathlib import Path

import pytest

from streams.datasets.movielens import ensure_ml100k, load_items, load_ratings
from streams.settings import WorkerSettings

pytestmark = pytest.mark.integration  # needs the package index for the first download


@pytest.fixture(scope="module")
def ml100k() -> Path:
    return ensure_ml100k(Path(WorkerSettings().cache_dir) / "datasets")


def test_ratings_rows_columns_and_order(ml100k):
    events = load_ratings(ml100k)
    assert len(events) == 100_000
    assert len({e.user_id for e in events}) == 943
    assert len({e.item_id for e in events}) == 1_682
    assert {e.rating for e in events} == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert all(a.ts <= b.ts for a, b in itertools.pairwise(events))
    assert len({(e.user_id, e.item_id) for e in events}) == 100_000  # one rating per pair


def test_items_have_titles_years_and_genres(ml100k):
    items = {i.item_id: i for i in load_items(ml100k)}
    assert len(items) == 1_682
    assert items["1"].title == "Toy Story"
    assert items["1"].attributes["year"] == 1995
    assert "Animation" in items["1"].attributes["genres"]


def test_second_call_uses_the_cache(ml100k):
    before = (ml100k / "ml-100k.inter").stat().st_mtime
    assert ensure_ml100k(ml100k.parent) == ml100k
    assert (ml100k / "ml-100k.inter").stat().st_mtime == before

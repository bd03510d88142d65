"""The served document: any n is a byte prefix (plus the closing brackets) that parses to
the first n items, for any text the catalogue and the ids may hold."""

from __future__ import annotations

import asyncio
import json

from hypothesis import given
from hypothesis import strategies as st

from streams.algo import blend
from streams.engines.served import Fuser
from streams.state.served import FuseInputs, ItemText, assemble, first, with_user

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
ITEM = st.fixed_dictionaries(
    {"item_id": TEXT, "score": st.floats(-1e6, 1e6), "title": st.none() | TEXT,
     "genres": st.lists(TEXT, max_size=3)}
)  # fmt: skip


def render(head, items):
    return assemble(head, [json.dumps(item, separators=(",", ":")).encode() for item in items])


@given(st.lists(ITEM, max_size=20), TEXT, st.integers(1, 25))
def test_the_first_n_items_are_a_prefix_of_the_document(items, user, n):
    head = {"user_id": user, "source": "blend", "computed_at": 1.5}
    doc, ends = render(head, items)
    assert json.loads(doc) == {**head, "items": items}
    assert json.loads(first(doc, ends, n)) == {**head, "items": items[:n]}


@given(st.lists(ITEM, max_size=20), TEXT, st.integers(1, 25))
def test_the_popular_document_is_served_under_the_asked_id(items, user, n):
    head = {"source": "popular", "computed_at": None}
    doc, ends = render(head, items)
    served = with_user(first(doc, ends, n), user)
    assert json.loads(served) == {"user_id": user, **head, "items": items[:n]}


class Memory:
    """The fuser's store in memory: the same interface, for the pure parts."""

    def __init__(self, inputs: dict[str, FuseInputs], popular: list[tuple[str, float]]):
        self.found, self.top, self.docs = inputs, popular, {}

    async def inputs(self, users, depth, popular):
        return [self.found[u] for u in users]

    async def popular(self, n):
        return self.top[:n], 1

    async def metas(self, items):
        return {i: (f"Title {i}", ["Drama"]) for i in items}

    async def write(self, served):
        self.docs.update({u: (v, doc) for u, v, doc, _e in served})
        return len(served)

    async def write_popular(self, doc, ends, at, seen, depth):
        self.docs[None] = (0, doc)


RANKED = st.lists(st.sampled_from([f"i{k}" for k in range(30)]), unique=True, max_size=15)


@given(RANKED, RANKED, RANKED, st.integers(0, 3), st.sets(st.sampled_from(["i1", "i2", "i3"])))
def test_the_stored_list_is_the_blend_of_the_inputs(item_cf, user_cf, content, ratings, rated):
    popular = [(f"i{k}", float(30 - k)) for k in range(30)]
    lists = {
        "item-cf": [(i, 1.0 / (k + 1)) for k, i in enumerate(item_cf)],
        "user-cf": [(i, 5.0 - k / 10) for k, i in enumerate(user_cf)],
        "content": [(i, 0.9 - k / 100) for k, i in enumerate(content)],
        "embedding": [],
    }
    inputs = FuseInputs(7, lists, {i: "i0" for i in item_cf}, ratings, rated, 12.0)
    store = Memory({"u": inputs}, popular)
    fuser = Fuser(store, blend.DEFAULT_WEIGHTS, 10, per_reason=3)

    async def run():
        await fuser.refresh_globals()
        return await fuser.fuse(["u"])

    assert asyncio.run(run()) == 1
    version, doc = store.docs["u"]
    served = json.loads(doc)
    unrated = [e for e in popular if e[0] not in rated]
    reasons = {i: "i0" for i in item_cf}
    want, label = blend.serve(
        {**lists, "popular": unrated},
        blend.DEFAULT_WEIGHTS,
        ratings,
        10,
        reasons=reasons,
        per_reason=3,
    )
    assert version == 7 and served["source"] == label
    assert [(i["item_id"], i["score"], i["sources"]) for i in served["items"]] == want
    assert sum(i["because_item"] == "i0" for i in served["items"]) <= 3
    weights = blend.routed_weights(blend.DEFAULT_WEIGHTS, ratings, label)
    assert [i["match"] for i in served["items"]] == [blend.match(s, weights) for _i, s, _x in want]
    for item in served["items"]:
        assert item["title"] == f"Title {item['item_id']}"
        assert (item["because_item"] == "i0") == ("item-cf" in item["sources"])


SOURCES = st.lists(st.sampled_from(blend.SOURCES), min_size=1, max_size=5, unique=True)


@given(TEXT, st.none() | TEXT, st.lists(TEXT, max_size=3), st.floats(-1e6, 1e6),
       st.integers(0, 100), SOURCES, st.none() | st.tuples(TEXT, st.none() | TEXT))  # fmt: skip
def test_an_item_encoded_from_its_pieces_is_its_json(
    item, title, genres, score, match, sources, why
):
    because = ItemText(why[0], why[1], []) if why else None
    encoded = ItemText(item, title, genres).encode(score, match, sources, because)
    whole = {"item_id": item, "score": score, "match": match, "source": sources[0],
             "sources": sources,
             "because_item": why[0] if why else None, "because_title": why[1] if why else None,
             "title": title, "genres": genres}  # fmt: skip
    assert encoded == json.dumps(whole, separators=(",", ":")).encode()


class Catalogue(Memory):
    """Items described or not, a version, and the metadata reads counted."""

    def __init__(self, described: dict[str, str]):
        super().__init__({}, [("i0", 1.0)])
        self.described, self.version, self.asked = described, 1, []

    async def popular(self, n):
        return self.top[:n], self.version

    async def metas(self, items):
        self.asked.append(sorted(items))
        return {i: (self.described[i], []) for i in items if i in self.described}


def test_an_item_without_metadata_is_not_asked_again_until_the_catalogue_changes():
    """An undescribed item is cached like a described one (it was asked every second);
    a catalogue write bumps the version, which empties the cache, so a new title shows."""
    store = Catalogue({"a": "A"})
    now = [100.0]
    fuser = Fuser(store, blend.DEFAULT_WEIGHTS, 10, meta_ttl_s=30.0, clock=lambda: now[0])

    async def scenario():
        await fuser.refresh_globals()
        store.asked.clear()
        await fuser._cache_metas(["a", "b"])
        now[0] += 5.0
        await fuser._cache_metas(["a", "b"])
        assert store.asked == [["a", "b"]]  # "b" (undescribed) was not read again
        assert fuser._text("b").title_json == "null"
        store.described["b"] = "B"
        store.version += 1  # what put_items does with every catalogue write
        await fuser.refresh_globals()
        store.asked.clear()
        await fuser._cache_metas(["b"])
        assert store.asked == [["b"]] and fuser._text("b").title_json == '"B"'
        now[0] += 31.0
        await fuser._cache_metas(["a"])
        assert store.asked == [["b"], ["a"]]  # past the TTL, read again

    asyncio.run(scenario())

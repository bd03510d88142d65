"""Lists converge once the stream is quiet (``streams.worker.sweep``).

A rater's new mean moves its similarity with every partner, but only the partners that
share an item of its batch are marked stale. Here a user rates an item nobody else
rated: no pair sum moves, the user's mean does, and no partner is marked. Their stored
similarities to that user were computed with the old mean (shown: the exact value has
moved away from them); after ``wait-idle`` (which waits for the sweep) every one equals
the formula."""

from __future__ import annotations

import pytest
import redis

from streams.commands.wait_idle import wait_idle
from streams.datasets.synthetic import SyntheticSpec, generate
from streams.schemas.ratings import RatingEvent
from streams.state import keys
from tests.integration.test_engine_exact import _produce
from tests.reference import Reference, final_ratings

pytestmark = pytest.mark.integration


def _neighbour_lists(client: redis.Redis, users: list[str]) -> dict[str, dict[str, float]]:
    return {
        u: {
            v.decode(): s for v, s in client.zrange(keys.user_neighbours(u), 0, -1, withscores=True)
        }
        for u in users
    }


@pytest.mark.parametrize("sweep", [True, False])
def test_a_mean_that_moves_alone_reaches_every_partners_list(
    engine_settings, topics, start_worker, sweep
):
    """With the sweep switched off (``STREAMREC_REFRESH__SWEEP=false``) ``wait-idle``
    still returns, and the drifted lists stay as they were: nothing swept them."""
    refresh = engine_settings.refresh.model_copy(update={"sweep": sweep})
    engine_settings = engine_settings.model_copy(update={"refresh": refresh})
    c = engine_settings.user_cf
    spec = SyntheticSpec(events=1_500, users=40, items=60, rerate_share=0.05, delete_share=0.0)
    events = list(generate(spec))
    start_worker(engine_settings)
    _produce(engine_settings, events)
    assert wait_idle(engine_settings, timeout=240)
    client = redis.Redis.from_url(engine_settings.redis.url)
    ref = Reference(final_ratings(events))
    lists = _neighbour_lists(client, ref.users)
    listed = {u: sum(u in nbrs for nbrs in lists.values()) for u in ref.users}
    mover = max(listed, key=listed.__getitem__)  # in the most neighbour lists
    holders = [u for u, nbrs in lists.items() if mover in nbrs]
    assert holders
    mean = float(client.hget(keys.user_means(), mover))
    extra = RatingEvent(
        user_id=mover, item_id="only-rated-by-the-mover", rating=1.0 if mean > 3 else 5.0,
        ts=events[-1].ts + 1,
    )  # fmt: skip
    _produce(engine_settings, [extra])
    ref = Reference(final_ratings([*events, extra]))
    want = {u: ref.similarity(u, mover, c.min_support, c.shrinkage) for u in holders}
    drifted = [u for u in holders if abs(lists[u][mover] - want[u]) > 1e-6]
    assert drifted  # the old lists are off: only a refresh of partners can mend them
    assert wait_idle(engine_settings, timeout=120)
    after = _neighbour_lists(client, ref.users)
    if not sweep:
        assert [u for u in drifted if after[u].get(mover) == lists[u][mover]] == drifted
        return
    for u in ref.users:
        for v, sim in after[u].items():
            assert abs(sim - ref.similarity(u, v, c.min_support, c.shrinkage)) < 1e-9, (u, v)
    for u in drifted:  # still a neighbour (its similarity positive): at the new value
        if want[u] > 0 and mover in after[u]:
            assert abs(after[u][mover] - want[u]) < 1e-9

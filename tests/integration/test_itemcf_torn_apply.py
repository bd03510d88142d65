"""A crash inside the item-to-item apply, at every command Redis could have received.

The apply sends its writes in pipelines. A worker stopped mid-send (SIGTERM cancels the
task inside ``execute``; kill -9 anywhere) leaves Redis with a prefix of them applied.
For each prefix length this test applies three batches, tears the fourth after that many
commands, redoes it from its recorded plan in a fresh engine (as the restarted worker
does), and checks the counts against the from-scratch reference: each item's n, its row,
and the global copy of n that the reader and re-scoring use; then again after a fifth."""

import asyncio
import dataclasses

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError

from streams.datasets.synthetic import SyntheticSpec, generate
from streams.engines.itemcf import ItemEngine, UserEvent, UserPortion
from streams.state.itemcf import ItemStore
from streams.state.usercf import Store
from tests.cooccurrence import assert_cooccurrence_equals_reference

pytestmark = pytest.mark.integration

PROGRESS = "ratings#item"
BATCH = 40


class Torn:
    """Lets ``budget`` pipelined commands through, then drops the connection: the
    commands past the budget never reach Redis."""

    def __init__(self, budget: int | None) -> None:
        self.budget, self.sent, self.torn = budget, 0, False

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        execute = Pipeline.execute
        torn = self

        async def limited(pipe: Pipeline, raise_on_error: bool = True):
            stack = pipe.command_stack
            left = None if torn.budget is None else torn.budget - torn.sent
            if left is not None and left < len(stack):
                del stack[left:]
                torn.sent += left
                torn.torn = True
                if stack:
                    await execute(pipe, raise_on_error)
                raise RedisConnectionError("the worker stopped mid-send")
            torn.sent += len(stack)
            return await execute(pipe, raise_on_error)

        monkeypatch.setattr(Pipeline, "execute", limited)


async def run(url: str, config, budget: int | None, monkeypatch) -> tuple[int, bool]:
    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    progress = Store(client)
    await progress.claim(PROGRESS, 0)
    spec = SyntheticSpec(events=5 * BATCH, users=12, items=15, rerate_share=0.15, delete_share=0.1)
    events = list(generate(spec))
    batches = [
        UserPortion(
            0,
            k + BATCH - 1,
            [
                UserEvent(e.user_id, e.item_id, e.rating, k + j, 0.0)
                for j, e in enumerate(events[k : k + BATCH])
            ],
        )
        for k in range(0, len(events), BATCH)
    ]
    for portion in batches[:3]:
        await ItemEngine(ItemStore(client), progress, config).apply_batch(PROGRESS, [portion], {})
    torn = Torn(budget)
    with monkeypatch.context() as patch:
        torn.install(patch)
        engine = ItemEngine(ItemStore(client), progress, config)
        try:
            await engine.apply_batch(PROGRESS, [batches[3]], {})
        except RedisConnectionError:
            assert torn.torn
    if torn.torn:  # the restarted worker redoes the batch from its recorded plan
        plan = await progress.plan(PROGRESS, 0)  # none if torn before the intent
        engine = ItemEngine(ItemStore(client), progress, config)
        await engine.apply_batch(PROGRESS, [batches[3]], {} if plan is None else {0: plan})
    sync = redis.Redis.from_url(url)
    try:
        assert_cooccurrence_equals_reference(sync, events[: 4 * BATCH], config.kmax)
        await engine.apply_batch(PROGRESS, [batches[4]], {})
        assert_cooccurrence_equals_reference(sync, events, config.kmax)
    finally:
        sync.close()
        await client.aclose()
    return torn.sent, torn.torn


@pytest.mark.parametrize("similarity", ["cosine", "pearson"])
def test_every_torn_prefix_of_an_apply_is_redone_exactly(engine_settings, monkeypatch, similarity):
    config = dataclasses.replace(engine_settings.item_cf, similarity=similarity)
    url = engine_settings.redis.url
    whole, torn = asyncio.run(run(url, config, None, monkeypatch))
    assert not torn and whole > 10  # the batch's apply: every item's script, users, copies
    crashes = 0
    for budget in range(whole):
        try:
            sent, torn = asyncio.run(run(url, config, budget, monkeypatch))
        except AssertionError as wrong:
            raise AssertionError(f"torn after {budget} of {whole} commands: {wrong}") from wrong
        assert torn and sent == budget, budget
        crashes += 1
    assert crashes == whole

"""The list process reports through a relay: every figure it records reaches the
worker's report once, and nothing twice."""

import pytest
import redis.asyncio
from hypothesis import given
from hypothesis import strategies as st

from streams.settings import ServedSettings, WorkerSettings
from streams.state import keys
from streams.worker.lists_process import RelayReport, refresh_engine, replay


class Recorded:
    def __init__(self) -> None:
        self.lists: dict[str, int] = {}
        self.ages: list[float] = []
        self.gauges: dict[str, list[int]] = {"due": [], "stale": []}
        self.errors: dict[str, int] = {}

    def fused(self, cause: str, users: int, ages: list[float]) -> None:
        self.lists[cause] = self.lists.get(cause, 0) + users
        self.ages += ages

    def due(self, users: int) -> None:
        self.gauges["due"].append(users)

    def stale(self, users: int) -> None:
        self.gauges["stale"].append(users)

    def redis_error(self, stage: str) -> None:
        self.errors[stage] = self.errors.get(stage, 0) + 1


ages = st.lists(st.floats(0, 100), max_size=5)
figure = st.one_of(
    st.tuples(st.just("source"), ages),
    st.tuples(st.just("popular"), st.integers(0, 9)),
    st.tuples(st.sampled_from(["due", "stale"]), st.integers(0, 10_000)),
    st.tuples(st.just("error"), st.sampled_from(["served", "refresher"])),
)


def record(report, kind, value) -> None:
    if kind == "source":
        report.fused("source", len(value), value)
    elif kind == "popular":
        report.fused("popular", value, [])
    elif kind == "due":
        report.due(value)
    elif kind == "stale":
        report.stale(value)
    else:
        report.redis_error(value)


@given(st.lists(st.lists(figure, max_size=8), max_size=5))
def test_every_figure_reaches_the_worker_once(rounds):
    relay, direct, relayed = RelayReport(), Recorded(), Recorded()
    for figures in rounds:  # one list per second: what one ``take`` sends
        for kind, value in figures:
            record(relay, kind, value)
            record(direct, kind, value)
        replay(relay.take(), relayed)
    nonzero = {c: n for c, n in direct.lists.items() if n}
    assert {c: n for c, n in relayed.lists.items() if n} == nonzero
    assert relayed.ages == direct.ages
    assert relayed.errors == direct.errors
    for gauge in ("due", "stale"):  # the latest value of each second that had one
        assert relayed.gauges[gauge] == [
            [v for k, v in figures if k == gauge][-1]
            for figures in rounds
            if any(k == gauge for k, _v in figures)
        ]
    replay(relay.take(), relayed)  # nothing is sent twice
    assert relayed.ages == direct.ages and relayed.errors == direct.errors


@pytest.mark.parametrize("served", [True, False])
def test_the_childs_refreshed_lists_make_served_lists_due_as_the_workers_do(served):
    """A refreshed user-based list changes what the user is served: the child's store
    queues the fusion when served lists are on (it once did not, and served lists kept
    the neighbours' old picks until the user's next event)."""
    settings = WorkerSettings(served=ServedSettings(enabled=served))
    engine = refresh_engine(redis.asyncio.Redis(), settings)  # never connects: no command
    assert engine.store.mark_served is served


def test_a_job_that_fails_ends_the_process_and_is_logged(caplog):
    """Before, the child waited for every job: a fuser that died on an unexpected error
    left the refresher running and served lists undone, with nothing in the log."""
    import asyncio

    from streams.worker.lists_process import until_one_ends

    cancelled = []

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def fails() -> None:
        await asyncio.sleep(0.01)
        raise TypeError("a bytes-like object is required")

    with pytest.raises(TypeError):
        asyncio.run(until_one_ends({"refresher": forever(), "fuser": fails()}))
    assert cancelled == [True]
    assert "the fuser failed" in caplog.text


def test_a_busy_mark_left_by_a_failed_round_is_cleared_by_the_next():
    """A round whose clearing failed (Redis went away) left its mark for a minute, and
    wait-idle with it: seen after a Redis Cluster failover. The next round clears it."""
    import asyncio

    from redis.exceptions import ConnectionError as RedisConnectionError

    from streams.state.toolkit import Busy

    class Flaky:
        def __init__(self) -> None:
            self.marks: dict[str, float] = {}
            self.down = False

        async def zadd(self, _key: str, mapping: dict[str, float]) -> None:
            self.marks.update(mapping)

        async def zrem(self, _key: str, *members: str) -> None:
            if self.down:
                raise RedisConnectionError("gone")
            for member in members:
                self.marks.pop(member, None)

    async def scenario() -> None:
        redis = Flaky()
        with pytest.raises(RedisConnectionError):
            async with Busy(redis, keys.FUSE_ROUND):  # type: ignore[arg-type]
                redis.down = True
        assert len(redis.marks) == 1
        redis.down = False
        async with Busy(redis, keys.FUSE_ROUND):  # type: ignore[arg-type]
            assert len(redis.marks) == 2
        assert redis.marks == {}

    Busy.left_behind.clear()
    asyncio.run(scenario())

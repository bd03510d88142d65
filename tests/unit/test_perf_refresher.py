"""The refresher's tick is bounded by time (an injected clock), never overruns its timer,
and drains a backlog within a few ticks once the stream stops."""

import asyncio
import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError

from streams.settings import RefreshSettings
from streams.worker.refresher import (
    IDLE_TIME_SHARE,
    Pace,
    TickBudget,
    every,
    refresh_tick,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Queue:
    def __init__(self, users: int) -> None:
        self.stale = [f"u{k}" for k in range(users)]
        self.given_back: list[str] = []
        self.marked = 0  # rounds marked busy and not cleared yet (wait-idle's view)
        self.unmarked_pops = 0

    @contextlib.asynccontextmanager
    async def busy(self):
        self.marked += 1
        try:
            yield
        finally:
            self.marked -= 1

    async def pop_stale(self, budget: int) -> list[str]:
        self.unmarked_pops += self.marked == 0
        popped, self.stale = self.stale[:budget], self.stale[budget:]
        return popped

    async def give_back(self, users: list[str]) -> None:
        self.given_back += users
        self.stale = users + self.stale


def refresher(clock: Clock, costs):
    """A refresh that advances the clock by a fixed cost per round plus a cost per user
    (``costs`` yields the per-user cost of each round: the event loop's load varies)."""

    async def refresh(users: list[str]) -> None:
        clock.now += 0.004 + next(costs) * len(users)

    return refresh


def tick(queue: Queue, refresh, budget: TickBudget) -> int:
    return asyncio.run(refresh_tick(queue, refresh, budget))


def never_overruns(share: float, base, load, backlog, round_max) -> None:
    """Five ticks with ``share`` of a 1 s interval each, the cost per user changing by
    the factors in ``load`` from one round to the next: none outlasts its interval."""
    interval = 1.0
    clock, queue = Clock(), Queue(backlog)
    budget = TickBudget(share * interval, round_max, clock)
    costs = iter([base * f for f in load] * 10_000)
    refresh = refresher(clock, costs)
    for _ in range(5):
        started = clock.now
        tick(queue, refresh, budget)
        assert clock.now - started < interval
        clock.now = started + interval


@settings(max_examples=300, deadline=None)
@given(
    share=st.floats(0.01, RefreshSettings.model_fields["busy_share"].metadata[-1].le),
    base=st.floats(0.0002, 0.01),
    load=st.lists(st.floats(1.0, 3.9), min_size=1, max_size=50),
    backlog=st.integers(0, 5000),
    round_max=st.integers(1, 1000),
)
def test_a_tick_never_overruns_its_timer(share, base, load, backlog, round_max):
    """Whatever the backlog and any busy share the settings accept, with the cost per user
    changing up to 3.9x from one round to the next (the event loop's load)."""
    never_overruns(share, base, load, backlog, round_max)


@settings(max_examples=300, deadline=None)
@given(
    base=st.floats(0.0002, 0.01),
    load=st.lists(st.floats(1.0, 2.0), min_size=1, max_size=50),
    backlog=st.integers(0, 5000),
    round_max=st.integers(1, 1000),
)
def test_an_idle_tick_never_overruns_its_timer(base, load, backlog, round_max):
    """With no record coming in the refresher takes IDLE_TIME_SHARE of the interval; the
    cost per user still changes (up to 2x: nothing else competes for the loop then)."""
    never_overruns(IDLE_TIME_SHARE, base, load, backlog, round_max)


def test_a_backlog_of_a_thousand_users_drains_within_five_seconds():
    """Once the stream stops: quiet ticks, one per second (``every``)."""
    clock, queue = Clock(), Queue(1000)
    budget = TickBudget(IDLE_TIME_SHARE * 1.0, 100, clock)
    refresh = refresher(clock, iter([0.002] * 10_000))  # 2 ms per user: a quiet worker
    seconds = 0
    while queue.stale:
        started = clock.now
        tick(queue, refresh, budget)
        clock.now = started + 1.0
        seconds += 1
    assert seconds <= 5


def test_a_count_budget_of_zero_refreshes_nothing():
    clock, queue = Clock(), Queue(10)
    assert tick(queue, refresher(clock, iter([0.001] * 10)), TickBudget(0.5, 0, clock)) == 0
    assert len(queue.stale) == 10


def test_a_failed_round_gives_its_users_back():
    clock, queue = Clock(), Queue(10)

    async def failing(users: list[str]) -> None:
        raise RedisConnectionError("down")

    assert tick(queue, failing, TickBudget(0.5, 100, clock)) == 0
    assert sorted(queue.stale) == sorted(f"u{k}" for k in range(10))
    assert queue.given_back


@pytest.mark.parametrize("per_user", [0.0005, 0.003, 0.02])
def test_rounds_adapt_to_the_measured_cost(per_user):
    clock, queue = Clock(), Queue(10_000)
    budget = TickBudget(0.5, 10_000, clock)
    refresh = refresher(clock, iter([per_user] * 10_000))
    for _ in range(3):
        started = clock.now
        done = tick(queue, refresh, budget)
        assert clock.now - started <= 0.51  # half the interval, and one small round
        clock.now = started + 1.0
    assert done >= 0.4 / (per_user + 0.004)  # most of the tick's half second is used


def test_one_slow_round_under_load_does_not_stop_the_refresher_for_good():
    """Seen in the demo: one round measured at 0.6 s per user priced every later round at
    zero users, and 933 stale users were never refreshed. Each tick still takes one user,
    and quiet rounds bring the estimate back down."""
    clock, queue = Clock(), Queue(500)
    budget = TickBudget(RefreshSettings().busy_share * 1.0, 100, clock, per_user_s=0.6)
    refresh = refresher(clock, iter([0.002] * 10_000))
    ticks = 0
    while queue.stale and ticks < 60:
        started = clock.now
        assert tick(queue, refresh, budget) >= 1
        clock.now = started + 1.0
        ticks += 1
    assert not queue.stale


@pytest.mark.parametrize("runtime", [0.0, 0.3, 0.9, 1.4])
def test_ticks_come_once_per_interval_whatever_they_take(runtime):
    """Faust's timer slept a whole interval after each tick: a 0.9 s tick came every
    1.9 s. Here a tick starts every interval (right after the last one if it overran)."""
    clock = Clock()
    starts: list[float] = []

    async def tick() -> None:
        starts.append(clock.now)
        clock.now += runtime

    async def sleep(seconds: float) -> None:
        clock.now += seconds

    asyncio.run(every(1.0, tick, sleep, lambda: len(starts) >= 6, clock))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert starts[0] == 1.0  # the first after one interval, as a timer's
    assert gaps == pytest.approx([max(1.0, runtime)] * 5)


def test_each_round_is_marked_busy_from_its_pop_until_its_users_are_written():
    """wait-idle must not read an empty queue while popped users are being refreshed."""
    queue, clock = Queue(300), Clock()
    seen_marked = []

    async def refresh(users):
        seen_marked.append(queue.marked)  # the writes happen inside the mark
        clock.now += 0.001 * len(users)

    budget = TickBudget(0.9, 50, clock)
    assert asyncio.run(refresh_tick(queue, refresh, budget)) > 0
    assert seen_marked and all(m == 1 for m in seen_marked)
    assert queue.unmarked_pops == 0 and queue.marked == 0


def test_the_pace_is_busy_while_users_are_marked_stale_even_when_the_queue_is_full():
    """A queue holding every user cannot grow: the marks counter still moves while the
    stream runs, and only a tick with no new mark since the last one is quiet."""
    busy, quiet = TickBudget(0.1, 100), TickBudget(0.9, 100)
    pace = Pace(busy, quiet)
    assert pace.next(0) is quiet  # a first start: nothing seen yet
    assert pace.next(943) is busy  # the stream marked users
    assert pace.next(1886) is busy  # re-marks of users all still queued
    assert pace.next(1886) is quiet  # nothing marked since the last tick
    assert pace.next(1887) is busy

"""The fuser's child reports through a relay: every figure it records reaches the
worker's report once, and nothing twice."""

from hypothesis import given
from hypothesis import strategies as st

from streams.worker.fuser_process import RelayReport, replay


class Recorded:
    def __init__(self) -> None:
        self.lists: dict[str, int] = {}
        self.ages: list[float] = []
        self.due_users: list[int] = []
        self.errors = 0

    def fused(self, cause: str, users: int, ages: list[float]) -> None:
        self.lists[cause] = self.lists.get(cause, 0) + users
        self.ages += ages

    def due(self, users: int) -> None:
        self.due_users.append(users)

    def redis_error(self) -> None:
        self.errors += 1


ages = st.lists(st.floats(0, 100), max_size=5)
figure = st.one_of(
    st.tuples(st.just("source"), ages),
    st.tuples(st.just("popular"), st.integers(0, 9)),
    st.tuples(st.just("due"), st.integers(0, 10_000)),
    st.tuples(st.just("error"), st.none()),
)


@given(st.lists(st.lists(figure, max_size=8), max_size=5))
def test_every_figure_reaches_the_worker_once(rounds):
    relay, direct, relayed = RelayReport(), Recorded(), Recorded()
    for figures in rounds:  # one list per second: what one ``take`` sends
        for kind, value in figures:
            for report in (relay, direct):
                if kind == "source":
                    report.fused("source", len(value), value)
                elif kind == "popular":
                    report.fused("popular", value, [])
                elif kind == "due":
                    report.due(value)
                else:
                    report.redis_error()
        replay(relay.take(), relayed)
    assert {c: n for c, n in relayed.lists.items() if n} == {
        c: n for c, n in direct.lists.items() if n
    }
    assert relayed.ages == direct.ages
    assert relayed.errors == direct.errors
    # the gauge: the latest value of each second in which one was recorded
    assert relayed.due_users == [
        [v for k, v in figures if k == "due"][-1]
        for figures in rounds
        if any(k == "due" for k, _v in figures)
    ]
    replay(relay.take(), relayed)  # nothing is sent twice
    assert relayed.ages == direct.ages and relayed.errors == direct.errors

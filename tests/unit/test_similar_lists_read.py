"""Reading similar lists in one pipeline that may answer some commands with an error in
place (``raise_on_error=False``): a failed command must raise a Redis error, which the
agents retry as an outage. A Redis Cluster node killed mid-replay once left a
``ConnectionError`` in place of a reply, which was decoded as a list and crashed the
ratings agent (``JSONDecodeError``)."""

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from streams.state.codecs import encode_ranking
from streams.state.toolkit import read_similar_lists


class Pipe:
    def __init__(self, replies: list[object]) -> None:
        self.replies = replies

    async def __aenter__(self) -> "Pipe":
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    def get(self, _name: str) -> None:
        pass

    async def execute(self, raise_on_error: bool = True) -> list[object]:
        assert raise_on_error is False
        return self.replies


class Client:
    def __init__(self, replies: list[object]) -> None:
        self.replies = replies

    def pipeline(self, transaction: bool = False) -> Pipe:
        return Pipe(self.replies)


def test_a_reply_that_is_a_connection_error_raises_it():
    good = encode_ranking([("i1", 0.5)])
    client = Client([good, RedisConnectionError("node gone")])
    with pytest.raises(RedisConnectionError, match="node gone"):
        asyncio.run(read_similar_lists(client, ["a", "b"]))  # type: ignore[arg-type]


def test_other_response_errors_raise_and_good_replies_decode():
    good = encode_ranking([("i1", 0.5)])
    assert asyncio.run(read_similar_lists(Client([good]), ["a"])) == [[("i1", 0.5)]]  # type: ignore[arg-type]
    with pytest.raises(ResponseError, match="MOVED"):
        asyncio.run(read_similar_lists(Client([ResponseError("MOVED 1 x")]), ["a"]))  # type: ignore[arg-type]


def test_transient_cluster_errors_become_outages_and_bugs_do_not():
    from redis.exceptions import (
        CrossSlotTransactionError,
        RedisClusterException,
        SlotNotCoveredError,
    )

    from streams.state.clients import _as_outage

    assert isinstance(_as_outage(SlotNotCoveredError("slot 7")), RedisConnectionError)
    assert isinstance(_as_outage(RedisClusterException("no node")), RedisConnectionError)
    bug = CrossSlotTransactionError("two slots")
    assert _as_outage(bug) is bug

"""The worker's lean Redis connection packs every command to the same bytes as redis-py,
and refuses (or packs) whatever hiredis cannot take exactly as redis-py does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from streams.state.connection import LeanConnection

ARGS = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=20),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
)


def packed(connection: Connection, commands: list[tuple]) -> bytes:
    return b"".join(connection.pack_commands(commands))


NAMES = st.sampled_from(["EVALSHA", "HMGET", b"ZADD"])


@given(st.lists(st.tuples(NAMES, st.lists(ARGS)), max_size=8))
def test_commands_pack_to_redis_pys_bytes(drawn):
    commands = [(name, *args) for name, args in drawn]
    assert packed(LeanConnection(), commands) == packed(Connection(), commands)


def test_a_spaced_command_name_is_split_as_redis_py_splits_it():
    for name in ("CONFIG GET", b"CLIENT SETNAME"):
        assert packed(LeanConnection(), [(name, "x")]) == packed(Connection(), [(name, "x")])
    assert b"$6\r\nCONFIG\r\n" in packed(LeanConnection(), [("CONFIG GET", "x")])


def test_a_large_value_packs_whole():
    value = b"v" * 200_000  # above redis-py's buffer cutoff: redis-py sends it in pieces
    assert packed(LeanConnection(), [("SET", "k", value)]) == packed(
        Connection(), [("SET", "k", value)]
    )


@pytest.mark.parametrize("bad", [True, np.int64(3)])
def test_what_hiredis_refuses_is_refused_as_redis_py_refuses_it(bad):
    with pytest.raises(DataError):
        Connection().pack_command("SET", "k", bad)
    with pytest.raises(DataError):
        LeanConnection().pack_command("SET", "k", bad)


def test_a_numpy_float_takes_redis_pys_own_path():
    value = np.float64(0.5)  # hiredis refuses it; redis-py packs its repr
    assert packed(LeanConnection(), [("SET", "k", value)]) == packed(
        Connection(), [("SET", "k", value)]
    )

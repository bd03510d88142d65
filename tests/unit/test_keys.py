import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.state import keys


@given(st.text(min_size=1, max_size=50))
def test_escaping_is_reversible_and_leaves_no_structural_characters(identifier):
    escaped = keys.escape(identifier)
    assert keys.unescape(escaped) == identifier
    assert not set("{}:") & set(escaped)


@pytest.mark.parametrize("hostile", ["a}b", "{x}", "u:1:state", "%7B", "}{g}", "a" * 300])
def test_a_hostile_id_stays_inside_its_own_hash_tag(hostile):
    key = keys.user_topn(hostile)
    tag = key[key.index("{") + 1 : key.index("}")]  # what Redis Cluster hashes
    assert tag == "u:" + keys.escape(hostile)
    assert key.endswith(":topn") and key.count("{") == 1 and key.count("}") == 1
    assert keys.user_topn(hostile) != keys.user_topn(hostile + "x")


def test_user_and_item_keys_live_in_their_own_slots():
    assert keys.user_state("1") != keys.item_raters("1")
    tags = {
        k[k.index("{") : k.index("}") + 1]
        for k in (
            keys.user_state("7"),
            keys.user_pairs("7"),
            keys.user_ratings("7"),
            keys.user_topn("7"),
        )
    }
    assert tags == {"{u:7}"}  # one user's keys: one cluster slot for its script

"""Which requests app.fast answers itself: only the route's common form; everything
else goes on to FastAPI (whose answers it must not change: tests/integration)."""

from __future__ import annotations

import pytest

from app.fast import asked_n, asked_user


@pytest.mark.parametrize(
    ("query", "n"),
    [
        (b"", 10), (b"n=5", 5), (b"n=1000", 1000), (b"source=blend", 10),
        (b"n=7&source=blend", 7), (b"source=blend&n=7", 7),
    ],
)  # fmt: skip
def test_the_common_form_is_answered(query, n):
    assert asked_n(query) == n


@pytest.mark.parametrize(
    "query",
    [
        b"n=0", b"n=05", b"n=1001", b"n=abc", b"n=", b"n", b"n=5&n=6", b"n=+5", b"n=-1",
        b"source=item-cf", b"source=%62lend", b"n=5&x=1", b"&", b"n=5&", b"n=%35",
    ],
)  # fmt: skip
def test_anything_else_goes_to_fastapi(query):
    assert asked_n(query) is None


def test_the_user_is_the_one_path_segment_between_prefix_and_suffix():
    def scope(path, root=""):
        return {"path": path, "root_path": root}

    assert asked_user(scope("/v1/users/u 1/recommendations")) == "u 1"
    assert asked_user(scope("/v1/users/{x}:y/recommendations")) == "{x}:y"
    assert asked_user(scope("/v1/users//recommendations")) is None
    assert asked_user(scope("/v1/users/a/b/recommendations")) is None
    assert asked_user(scope("/v1/users/u1/recommendations/")) is None
    assert asked_user(scope("/v1/users/u1/neighbors")) is None
    assert asked_user(scope("/v1/users/u1/recommendations", root="/api")) is None

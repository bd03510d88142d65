"""The recorded partition layout: what a worker refuses, and the procedure it names."""

from streams.topics import CHANGE_PROCEDURE, STATE_REVISION, layout_problems, revision_problems


def test_the_same_counts_or_no_state_yet_pass():
    assert layout_problems({}, {"ratings": 4, "by_item": 4}) == []
    assert layout_problems({"ratings": 4, "by_item": 4}, {"ratings": 4, "by_item": 4}) == []


def test_another_count_is_refused_naming_both_counts():
    problems = layout_problems({"ratings": 2, "by_item": 2}, {"ratings": 4, "by_item": 4})
    assert len(problems) == 2
    assert "built with 2 partitions of ratings, now 4" in problems[0]
    assert "dropped as duplicates" in problems[0]


def test_the_procedure_names_every_step():
    for step in ("pause the producers", "wait-idle", "stop every worker",
                 "STREAMREC_TOPICS__RATINGS_PARTITIONS", "streamrec rebuild --yes",
                 "docs/deploy.md"):  # fmt: skip
        assert step in CHANGE_PROCEDURE


def test_a_state_of_an_older_revision_is_refused_and_a_new_one_is_not():
    assert revision_problems({}) == []  # no state yet: this release records its own
    current = {"ratings": 4, "by_item": 4, "revision": STATE_REVISION}
    assert revision_problems(current) == []
    (problem,) = revision_problems({"ratings": 4, "by_item": 4})  # written before revisions
    assert "older release" in problem and "streamrec rebuild --yes" in problem
    assert revision_problems({**current, "revision": STATE_REVISION - 1})

"""The reader refuses to start with a write key that would let anyone in, or that no
client could send, and with two write policies at once."""

import pytest

from app.settings import ReaderSettings
from streams.settings import load_settings


@pytest.mark.parametrize(
    ("value", "message"),
    [("", "is empty"), ("   ", "is empty"), ("kéy", "printable ASCII"), ("a key", "printable")],
    ids=["empty", "blank", "non-ASCII", "space"],
)
def test_an_unusable_key_refuses_to_start(monkeypatch, capsys, value, message):
    monkeypatch.setenv("STREAMREC_API_KEY", value)
    with pytest.raises(SystemExit) as exited:
        load_settings(ReaderSettings)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "STREAMREC_API_KEY" in err and message in err
    assert value.strip() == "" or value not in err  # the key itself is never printed


def test_a_key_and_anonymous_writes_together_are_refused(monkeypatch, capsys):
    monkeypatch.setenv("STREAMREC_API_KEY", "k3y")
    monkeypatch.setenv("STREAMREC_ALLOW_ANONYMOUS_WRITES", "true")
    with pytest.raises(SystemExit):
        load_settings(ReaderSettings)
    assert "choose one" in capsys.readouterr().err


def test_writes_are_closed_by_default(monkeypatch):
    monkeypatch.delenv("STREAMREC_API_KEY", raising=False)
    settings = load_settings(ReaderSettings)
    assert settings.api_key is None and settings.allow_anonymous_writes is False
    monkeypatch.setenv("STREAMREC_API_KEY", "k3y")
    assert load_settings(ReaderSettings).api_key.get_secret_value() == "k3y"

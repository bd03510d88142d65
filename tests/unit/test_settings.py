import pytest

from streams.settings import WorkerSettings, load_settings


def test_defaults_point_at_the_local_stack(monkeypatch):
    settings = load_settings(WorkerSettings)
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.topics.ratings_partitions == 8


def test_nested_variables_are_read(monkeypatch):
    monkeypatch.setenv("STREAMREC_KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("STREAMREC_TOPICS__RATINGS_PARTITIONS", "16")
    settings = load_settings(WorkerSettings)
    assert settings.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert settings.topics.ratings_partitions == 16


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("STREAMREC_KAFKA__BOOTSTRAP_SERVERS", "no-port", "STREAMREC_KAFKA__BOOTSTRAP_SERVERS"),
        ("STREAMREC_TOPICS__RATINGS_PARTITIONS", "0", "STREAMREC_TOPICS__RATINGS_PARTITIONS"),
        ("STREAMREC_REDIS__URL", "http://x", "STREAMREC_REDIS__URL"),
        ("STREAMREC_LIMITS__RATING_MIN", "9", "STREAMREC_LIMITS"),
        ("STREAMREC_KAFKA__SECURITY_PROTOCOL", "SASL_SSL", "STREAMREC_KAFKA"),
    ],
)
def test_bad_configuration_is_refused_at_start(monkeypatch, capsys, name, value, named):
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        load_settings(WorkerSettings)
    assert exited.value.code == 2
    assert named in capsys.readouterr().err


def test_secrets_never_show_in_repr(monkeypatch):
    monkeypatch.setenv("STREAMREC_REDIS__PASSWORD", "hunter2")
    settings = load_settings(WorkerSettings)
    assert "hunter2" not in repr(settings)
    assert settings.redis.client_kwargs()["password"] == "hunter2"

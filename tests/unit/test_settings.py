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


def test_each_path_reads_its_own_nested_group(monkeypatch):
    monkeypatch.setenv("STREAMREC_ITEM_CF__KMAX", "7")
    monkeypatch.setenv("STREAMREC_ITEM_CF__ENABLED", "false")
    monkeypatch.setenv("STREAMREC_EMBEDDING__KIND", "mf")
    monkeypatch.setenv("STREAMREC_USER_CF__HISTORY_CAP", "1001")
    monkeypatch.setenv("STREAMREC_TOPICS__RATINGS_PARTITIONS", "8")
    monkeypatch.setenv("STREAMREC_LIMITS__RATING_MIN", "1")
    settings = load_settings(WorkerSettings)
    assert settings.item_cf.kmax == 7 and not settings.item_cf.enabled
    assert settings.embedding.kind == "mf"
    # derived, not set: the limits' range and the cap shared out over the partitions
    assert settings.user_cf.rating_bounds == settings.embedding.rating_bounds == (1.0, 5.0)
    assert settings.user_cf.history_cap_per_partition == 126


@pytest.mark.parametrize(
    ("name", "value", "told"),
    [
        ("STREAMREC_ITEM_CF_KMAX", "7", "STREAMREC_ITEM_CF__KMAX"),
        ("STREAMREC_FAN_OUT_CAP", "50", "STREAMREC_USER_CF__FAN_OUT_CAP"),
        ("STREAMREC_HYBRID", "false", "STREAMREC_EMBEDDING__ENABLED"),
        ("STREAMREC_REFRESH_BUDGET", "500", "STREAMREC_REFRESH__BUDGET"),
        ("STREAMREC_TOPN_SIZE", "20", "STREAMREC_ITEM_CF__TOPN_SIZE"),
        ("STREAMREC_BLEND_ITEM_CF", "1", "STREAMREC_BLEND__ITEM_CF"),
        ("STREAMREC_ITEM_CF", "true", "STREAMREC_ITEM_CF__ENABLED"),
        ("STREAMREC_EMBEDDING", "mf", "STREAMREC_EMBEDDING__KIND"),
        ("STREAMREC_ITEM_CF__KMAXX", "7", "item_cf has no setting 'kmaxx'"),
        ("STREAMREC_USER_CF__RATING_BOUNDS", "[1, 5]", "user_cf has no setting"),
        ("STREAMREC_ITEM_CF__KMAX", "-1", "STREAMREC_ITEM_CF__KMAX"),
        ("STREAMREC_EMBEDDING__KIND", "svd", "STREAMREC_EMBEDDING__KIND"),
    ],
)
def test_old_misspelt_and_bad_path_settings_are_refused_by_name(
    monkeypatch, capsys, name, value, told
):
    """An ignored variable would silently change results: an old flat name, a group's
    name holding a flag, a misspelt or derived field, an out-of-range value."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        load_settings(WorkerSettings)
    assert exited.value.code == 2
    assert told in capsys.readouterr().err


def test_the_reader_refuses_only_its_own_old_names(monkeypatch, capsys):
    from app.settings import ReaderSettings

    monkeypatch.setenv("STREAMREC_ITEM_CF__KMAX", "7")  # a shared ConfigMap: the worker's
    monkeypatch.setenv("STREAMREC_PREDICT_K", "30")  # the reader's own
    assert load_settings(ReaderSettings).predict_k == 30
    monkeypatch.setenv("STREAMREC_BLEND_POPULAR", "0.1")
    with pytest.raises(SystemExit):
        load_settings(ReaderSettings)
    assert "STREAMREC_BLEND__POPULAR" in capsys.readouterr().err

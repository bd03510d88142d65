from streams.settings import WorkerSettings
from streams.worker.app import create_faust_app


def test_the_data_dir_may_sit_in_folders_that_do_not_exist_yet(tmp_path):
    """A fresh clone with an external stack has no .state/ yet: the worker makes it."""
    datadir = tmp_path / ".state" / "worker"
    create_faust_app(WorkerSettings(data_dir=str(datadir), metrics_port=0))
    assert datadir.parent.is_dir()

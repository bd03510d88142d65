import subprocess
import sys

from streams.stack.process import ManagedProcess


def test_stop_kills_only_a_process_started_in_its_own_folder(tmp_path):
    ours = ManagedProcess("sleeper", tmp_path / "ours")
    pid = ours.start([sys.executable, "-c", "import time; time.sleep(60)"])
    assert ours.pid() == pid
    assert ours.stop(timeout=5) is True
    assert ours.pid() is None


def test_a_pid_file_naming_someone_elses_process_is_ignored(tmp_path):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        impostor = ManagedProcess("kafka", tmp_path)
        tmp_path.mkdir(exist_ok=True)
        impostor.pid_file.write_text(f"{stranger.pid}\n")
        assert impostor.pid() is None  # other working directory: not ours
        assert impostor.stop() is False
        assert stranger.poll() is None  # still alive
        assert not impostor.pid_file.exists()  # the stale file is cleared
    finally:
        stranger.kill()
        stranger.wait()

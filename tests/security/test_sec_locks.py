"""Issue 31, item 7: two builds into one folder ran two writers (the second, told to pass --resume, ended in
``[Errno 2] ... '.build'``). Every command that writes a folder holds its lock (:func:`fakescope.core.lock.
folder_lock`): a lock file with the owner's pid, refused while that process lives, taken over once it is gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from sec_helpers import invoke, one_error_line

from fakescope.core.lock import FolderLockedError, folder_lock
from fakescope.core.safety import LOCK_NAME, check_output_folder

HOLD = ("import sys, time\nfrom fakescope.core.lock import folder_lock\n"
        "with folder_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)\n")


@pytest.fixture
def held(tmp_path):
    """A folder whose lock another live process holds: ``(folder, process)``."""
    folder = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield folder, proc
    finally:
        proc.kill()
        proc.wait()


def test_a_folder_another_process_writes_is_refused_naming_it(held):
    folder, proc = held
    with pytest.raises(FolderLockedError, match=rf"being written by another fakescope process \(pid {proc.pid}"):
        with folder_lock(folder):
            pass
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == proc.pid  # the owner's lock is left alone


def test_a_stale_lock_is_taken_over_and_removed(held):
    folder, proc = held
    proc.send_signal(signal.SIGKILL)  # killed: its lock file stays behind
    proc.wait()
    assert (folder / LOCK_NAME).exists()
    with folder_lock(folder) as lock:
        assert lock.previous["pid"] == proc.pid
        assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
        with folder_lock(folder):  # re-entrant in one process
            pass
        check_output_folder(folder, what="corpus")  # the lock is no content: the folder is still empty
    assert not (folder / LOCK_NAME).exists()


def test_every_folder_writing_command_refuses_a_locked_folder(held, tmp_path, tiny_recipe, small_corpus):
    folder, proc = held
    for name in ("real", "fake"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.zeros((16, 16, 3), np.uint8) + len(name)).save(tmp_path / name / "a.png")
    shards = [tmp_path / f"shard{i}" for i in range(2)]
    for i, shard in enumerate(shards):
        assert invoke("corpus", "build", tiny_recipe, "--shard", f"{i}/2", "--out", shard,
                      "--device", "cpu").exit_code == 0
    commands = [
        ("corpus", "build", tiny_recipe, "--out", folder, "--device", "cpu"),
        ("corpus", "build", tiny_recipe, "--out", folder, "--device", "cpu", "--resume"),
        ("corpus", "import", "--real", tmp_path / "real", "--fake", f"g={tmp_path / 'fake'}", "--out", folder),
        ("corpus", "merge", *shards, "--out", folder),
        ("train", "spectrum", "--corpus", small_corpus, "--out", folder, "--device", "cpu"),
        ("gan", "train", "vanilla", "--out", folder, "--epochs", "1", "--size", "8", "--real-images", "64",
         "--device", "cpu"),
    ]
    for args in commands:
        result = invoke(*args)
        assert result.exit_code == 1, (args, result.output)
        assert f"pid {proc.pid}" in one_error_line(result), args
    assert sorted(p.name for p in folder.iterdir()) == [LOCK_NAME]  # nothing written beside the owner's lock


def test_a_finished_command_leaves_no_lock(tmp_path, tiny_recipe):
    out = tmp_path / "c"
    assert invoke("corpus", "build", tiny_recipe, "--out", out, "--device", "cpu").exit_code == 0
    assert not (out / LOCK_NAME).exists()
    assert json.loads(invoke("corpus", "verify", out, "-f", "json").output)["ok"]

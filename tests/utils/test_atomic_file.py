"""`atomic_write`: private O_EXCL temporary files, rollback on error, cleanup of dead writers' leftovers."""

import os
import subprocess
import sys
import time

import pytest

from nemo.utils import atomic_file
from nemo.utils.atomic_file import atomic_write, remove_stale_temps, temp_path_for


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _temp_name(target, host, pid, token="ab" * 8) -> str:
    return os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{host}.{pid}.{token}.tmp")


def test_publishes_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "model.nemo"
    with atomic_write(target) as f:
        f.write(b"x" * 1000)
        assert not target.exists()
    assert target.read_bytes() == b"x" * 1000
    assert os.listdir(target.parent) == ["model.nemo"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.nemo"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target) as f:
            f.write(b"new, half written")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.nemo"]


def test_each_writer_gets_its_own_temporary_name(tmp_path):
    target = str(tmp_path / "m.nemo")
    names = {temp_path_for(target) for _ in range(100)}
    assert len(names) == 100
    assert all(os.path.basename(n).startswith(".m.nemo.") and n.endswith(".tmp") for n in names)
    with atomic_write(target) as a, atomic_write(target) as b:  # two open at once do not collide
        a.write(b"a")
        b.write(b"b")
    assert open(target, "rb").read() == b"a"  # b was replaced first, a last


def test_dead_writers_leftovers_are_removed_live_ones_kept(tmp_path):
    target = str(tmp_path / "m.nemo")
    host = atomic_file._host_tag()
    dead = _temp_name(target, host, _dead_pid())
    dead_just_now = _temp_name(target, host, _dead_pid(), token="cd" * 8)
    live = _temp_name(target, host, os.getpid())
    foreign_new = _temp_name(target, "otherhost", 1)
    foreign_old = _temp_name(target, "otherhost", 2)
    other_target = _temp_name(str(tmp_path / "n.nemo"), host, _dead_pid())
    for p in (dead, dead_just_now, live, foreign_new, foreign_old, other_target):
        open(p, "wb").close()
    minutes_ago = time.time() - atomic_file.STALE_GRACE_SECONDS - 5
    for p in (dead, live, other_target):
        os.utime(p, (minutes_ago, minutes_ago))
    old = time.time() - atomic_file.STALE_FOREIGN_SECONDS - 60
    os.utime(foreign_old, (old, old))
    with atomic_write(target) as f:
        f.write(b"ok")
    left = sorted(os.listdir(tmp_path))
    assert os.path.basename(dead) not in left and os.path.basename(foreign_old) not in left
    for kept in (dead_just_now, live, foreign_new, other_target):  # recent, alive, other host, other target
        assert os.path.basename(kept) in left
    assert remove_stale_temps(target) == 0


def test_published_file_has_umask_permissions(tmp_path):
    target = tmp_path / "m.nemo"
    with atomic_write(target) as f:
        f.write(b"1")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask

"""WorkDir: an image directory is replaced whole or not at all, and never one that is not an image."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.errors import UsageError
from harness.images.staging import WorkDir, check_replaceable


def _image(path, marker: str):
    path.mkdir(parents=True)
    (path / "manifest.json").write_text("{}")
    (path / "disk.qcow2").write_text(marker)
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_publish_replaces_the_old_image_in_one_piece(tmp_path):
    out = _image(tmp_path / "win", "old")
    (out / "build-failed.png").write_bytes(b"png of an earlier failure")
    with WorkDir(out) as work:
        assert work.path.parent == tmp_path and work.path.name.startswith(".win.building-")
        (work.path / "manifest.json").write_text("{}")
        (work.path / "disk.qcow2").write_text("new")
        work.publish()
    assert (out / "disk.qcow2").read_text() == "new"
    assert not (out / "build-failed.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["win"]   # no work or old directory left


@pytest.mark.parametrize("error", [RuntimeError("install failed"), KeyboardInterrupt()])
def test_a_failed_or_interrupted_build_leaves_the_old_image_and_no_work_directory(tmp_path, error):
    out = _image(tmp_path / "win", "old")
    with pytest.raises(type(error)):
        with WorkDir(out) as work:
            (work.path / "disk.qcow2").write_text("half")
            raise error
    assert (out / "disk.qcow2").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["win"]


def test_a_first_build_that_fails_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with WorkDir(tmp_path / "new"):
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [{"notes.txt": "mine"}, {"manifest.jsonx": ""}])
def test_a_directory_that_is_not_an_image_is_never_replaced(tmp_path, content):
    home = tmp_path / "home"
    home.mkdir()
    for name, text in content.items():
        (home / name).write_text(text)
    with pytest.raises(UsageError, match=r"--out .*home: exists and is not an image directory"):
        with WorkDir(home):
            pass
    assert sorted(p.name for p in home.iterdir()) == sorted(content)


def test_empty_and_failure_only_directories_and_files(tmp_path):
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty")
    (tmp_path / "failed").mkdir()
    (tmp_path / "failed" / "build-failed-console.log").write_text("x")
    check_replaceable(tmp_path / "failed")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a directory"):
        check_replaceable(tmp_path / "file")


def test_leftovers_of_a_killed_build_are_removed_or_restored(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f".win.building-{dead}"
    stale.mkdir()
    (stale / "disk.qcow2").write_text("half")
    # Killed between its two renames: the previous image sits in .old and --out is gone.
    old = _image(tmp_path / f".win.old-{dead}", "previous")
    alive = tmp_path / f".win.building-{os.getppid()}"   # another build still running: left alone
    alive.mkdir()
    with WorkDir(tmp_path / "win"):
        pass
    assert not stale.exists() and not old.exists() and alive.exists()
    assert (tmp_path / "win" / "disk.qcow2").read_text() == "previous"

"""``clfs-harness image build windows`` at the command line: every mistake is one line on stderr, exit 2."""

from __future__ import annotations

import fcntl
import subprocess
import sys

import pytest

from harness.cli import main


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("CLFS_HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CLFS_HARNESS_RUN_DIR", str(tmp_path / "runs"))
    (tmp_path / "win.iso").write_bytes(b"\0" * 40000)          # not an ISO, but a file
    (tmp_path / "virtio.iso").write_bytes(b"\0" * 40000)
    return tmp_path


def _error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("clfs-harness: error: "), captured.err
    return lines[0][len("clfs-harness: error: "):]


def test_a_missing_iso_is_one_line_naming_the_file_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "image", "build", "windows",
                           "--iso", str(tmp_path / "Win11.iso"), "--virtio-win", str(tmp_path / "v.iso"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == f"clfs-harness: error: --iso {tmp_path / 'Win11.iso'}: no such file\n"


def test_required_options_and_options_of_other_images(capsys, files):
    assert _error(capsys, "image", "build", "windows", "--iso", str(files / "win.iso")) == \
        "image build windows needs --virtio-win, --out"
    assert _error(capsys, "image", "build", "linux-smoke", "--edition", "win11-pro") == \
        "--edition applies only to `image build windows`"


@pytest.mark.parametrize("extra, message", [
    (["--timeout", "3 hours"], "bad --timeout: '3 hours', want seconds or a duration such as 45m, 3h, 1h30m"),
    (["--memory", "4G"], "bad --memory: '4G', want a whole number"),
    (["--memory", "512"], "bad --memory: 512 MiB, want [2048-262144]"),
    (["--timeout", "1h", "--stall-timeout", "2h"], "bad --stall-timeout: 7200 s, want [60-3600]"),
    (["--firmware", "coreboot"], "bad --firmware: 'coreboot', want bios or uefi"),
    (["--openssh-msi", "/nope.msi"], "--openssh-msi /nope.msi: no such file"),
    (["--edition", "win12-pro"], "unknown --edition 'win12-pro'. Available: win10-pro, win11-pro, "),
])
def test_bad_values_are_one_line(capsys, files, extra, message):
    error = _error(capsys, "image", "build", "windows", "--iso", str(files / "win.iso"),
                   "--virtio-win", str(files / "virtio.iso"), "--out", str(files / "out"), *extra)
    assert error.startswith(message)


def test_media_that_are_not_isos_and_an_out_that_is_not_an_image(capsys, files):
    args = ["image", "build", "windows", "--iso", str(files / "win.iso"), "--virtio-win", str(files / "virtio.iso")]
    error = _error(capsys, *args, "--out", str(files / "out"))
    assert error.startswith(f"image build windows: {files / 'win.iso'}: not an ISO image that can be read")
    (files / "mine").mkdir()
    (files / "mine" / "thesis.tex").write_text("years of work")
    error = _error(capsys, *args, "--out", str(files / "mine"))
    assert error.startswith(f"--out {files / 'mine'}: exists and is not an image directory")
    assert (files / "mine" / "thesis.tex").read_text() == "years of work"


def test_a_second_build_into_the_same_directory_fails_at_once(capsys, files):
    with open(files / ".out.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        error = _error(capsys, "image", "build", "windows", "--iso", str(files / "win.iso"),
                       "--virtio-win", str(files / "virtio.iso"), "--out", str(files / "out"))
    assert error == f"another image build into {files / 'out'} is running (lock {files / '.out.lock'})"

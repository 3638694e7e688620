"""clfstest-model REQUEST RESPONSE: the file mode another engineer runs inside the Linux guest."""

from __future__ import annotations

import subprocess

import pytest

from harness.protocol import RequestRejected, decode_response, encode_request
from harness.targets.model import MODEL_SCRATCH, build_model
from tests.unit.protocol_cases import case, lifecycle, step


@pytest.fixture(scope="module")
def binary():
    return build_model()


def test_file_mode_round_trip(binary, tmp_path):
    c = lifecycle()
    (tmp_path / "req").write_bytes(encode_request(c, scratch=MODEL_SCRATCH))
    proc = subprocess.run([str(binary), str(tmp_path / "req"), str(tmp_path / "resp")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    r = decode_response((tmp_path / "resp").read_bytes(), c, target="vm-linux")
    assert r.target == "vm-linux" and r.identity["model"] is True
    assert all(s.status == 0 for s in r.steps)


def test_file_mode_refusal_is_in_the_response(binary, tmp_path):
    c = case([step(1, "create_log", "dispatch", name="l")])
    (tmp_path / "req").write_bytes(encode_request(c, scratch=MODEL_SCRATCH))
    proc = subprocess.run([str(binary), str(tmp_path / "req"), str(tmp_path / "resp")],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "request refused: bad context" in proc.stderr
    with pytest.raises(RequestRejected):
        decode_response((tmp_path / "resp").read_bytes(), c, target="vm-linux")


def test_usage_and_missing_file(binary, tmp_path):
    assert subprocess.run([str(binary)], capture_output=True).returncode == 2
    proc = subprocess.run([str(binary), str(tmp_path / "nope"), str(tmp_path / "resp")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "cannot open" in proc.stderr

"""The sample GitHub workflow passes actionlint, with the config that declares the `kvm` label."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CI = Path(__file__).resolve().parents[2] / "vm_images" / "windows" / "ci"


def actionlint() -> str:
    found = shutil.which("actionlint") or str(Path(sys.executable).with_name("actionlint"))
    if not Path(found).is_file():
        print("\nSKIP workflow lint: actionlint is not installed (the [test] extra)", file=sys.stderr)
        pytest.skip("actionlint is not installed (pip install -e '.[test]')")
    return found


def test_the_sample_workflow_passes_actionlint_with_the_kvm_label_declared():
    proc = subprocess.run([actionlint(), "-config-file", str(CI / "actionlint.yaml"), str(CI / "github-self-hosted.yml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_without_the_config_the_kvm_label_is_flagged(tmp_path):
    """The check above can fail: the same workflow without the label declared is refused."""
    empty = tmp_path / "actionlint.yaml"
    empty.write_text("self-hosted-runner:\n  labels: []\n")
    proc = subprocess.run([actionlint(), "-config-file", str(empty), str(CI / "github-self-hosted.yml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and 'label "kvm" is unknown' in proc.stdout, proc.stdout + proc.stderr

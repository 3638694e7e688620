"""What a provisioned Windows guest must report, checked against what the build asked for.

The guest's facts (``CLFS-HARNESS-FACT key=value``) become the image manifest's ``ssh.host_key``
and ``windows`` object. None is copied blindly: each has a syntax, most have an expected value
(the edition asked for, the dump type configured, the certificate imported), and one failed
check fails the build with every problem named.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import paramiko

from harness.images import ImageBuildError
from harness.images.windows_media import Edition

REQUIRED = ("host_key", "build", "revision", "edition", "product_name", "installation_type",
            "dump_type", "test_signing", "test_cert_sha1", "clfs_authentication",
            "ssh_password_auth", "windows_update", "sample_submission")
OPTIONAL = ("display_version",)
CLFS_AUTH = re.compile(r"enforcing|learning|disabled|absent|mode-\d{1,10}")


@dataclass(frozen=True)
class Expected:
    """What the build configured, to compare the facts with.

    Attributes:
        edition: the edition installed.
        dump_type: ``kernel`` or ``automatic``.
        test_cert_sha1: SHA-1 of the test certificate (DER), as Windows shows thumbprints.
    """

    edition: Edition
    dump_type: str
    test_cert_sha1: str


def check_host_key(line: str) -> str:
    """``ssh-ed25519 <base64>``, checked to be a real ed25519 public key; returns it normalised."""
    parts = line.split()
    if len(parts) != 2 or parts[0] != "ssh-ed25519":
        raise ValueError("want 'ssh-ed25519 <base64>'")
    try:
        blob = base64.b64decode(parts[1], validate=True)
        paramiko.PKey.from_type_string(parts[0], blob)
    except (ValueError, paramiko.SSHException) as exc:
        raise ValueError(f"not an ed25519 public key ({exc})") from None
    return f"{parts[0]} {parts[1]}"


def check_facts(facts: dict[str, str], expected: Expected) -> tuple[str, dict]:
    """Check the guest's facts.

    Args:
        facts: every fact the guest reported.
        expected: what the build asked for.
    Returns:
        (host key line, the manifest's ``windows`` object).
    Raises:
        ImageBuildError: missing, unknown or wrong facts; the message lists every one.
    """
    problems: list[str] = []
    missing = [k for k in REQUIRED if k not in facts]
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    unknown = sorted(set(facts) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        problems.append(f"unknown {', '.join(unknown)}")
    f = {k: facts.get(k, "") for k in REQUIRED + OPTIONAL}
    e = expected.edition

    def bad(key: str, why: str) -> None:
        if key not in missing:
            problems.append(f"{key}={f[key][:80]!r}: {why}")

    host_key = ""
    try:
        host_key = check_host_key(f["host_key"])
    except ValueError as exc:
        bad("host_key", str(exc))
    build = _int(f["build"])
    if build is None:
        bad("build", "not a build number")
    elif build < e.min_build or (e.max_build is not None and build > e.max_build):
        span = f"{e.min_build}" if e.max_build == e.min_build else f"{e.min_build}-{e.max_build or ''}"
        bad("build", f"{e.key} is build {span}: the ISO holds another Windows")
    revision = _int(f["revision"])
    if revision is None:
        bad("revision", "not a number")
    if not f["edition"].lower().startswith(e.edition_id.lower()):
        bad("edition", f"want {e.edition_id} (or its evaluation)")
    if f["installation_type"] != e.installation_type:
        bad("installation_type", f"want {e.installation_type!r} for {e.key}")
    if f["dump_type"] != expected.dump_type:
        bad("dump_type", f"want {expected.dump_type}")
    if f["test_signing"] != "on":
        bad("test_signing", "test signing is not on")
    if f["test_cert_sha1"].lower() != expected.test_cert_sha1.lower():
        bad("test_cert_sha1", f"the imported certificate is not the test certificate ({expected.test_cert_sha1})")
    if not CLFS_AUTH.fullmatch(f["clfs_authentication"]):
        bad("clfs_authentication", "want enforcing, learning, disabled, absent or mode-N")
    if f["ssh_password_auth"] != "no":
        bad("ssh_password_auth", "password authentication must be off")
    if f["windows_update"] != "off":
        bad("windows_update", "want off")
    if f["sample_submission"] not in ("off", "no-defender"):
        bad("sample_submission", "want off (or no-defender)")
    if not f["product_name"]:
        bad("product_name", "empty")
    if problems:
        raise ImageBuildError("the guest's facts do not match the build: " + "; ".join(problems))
    windows = {
        "build": build, "revision": revision, "edition": f["edition"], "product_name": f["product_name"],
        "installation_type": f["installation_type"], "dump_type": f["dump_type"], "test_signing": True,
        "clfs_authentication": f["clfs_authentication"],
    }
    if f["display_version"]:
        windows["display_version"] = f["display_version"]
    return host_key, windows


def _int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"\d{1,9}", text) else None

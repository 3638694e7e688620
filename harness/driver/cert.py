"""The test-signing certificate: RSA, code-signing EKU, generated once outside the repository.

``ensure_test_certificate(cert_dir)`` creates ``test.crt`` and ``test.key`` with openssl the first
time and reuses them afterwards. The key is written with mode 0600 in a 0700 directory and is
never printed or logged; only its path travels.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BuildError

# build_notes/test-cert-ext.cnf, as verified with osslsigncode 2.9.
OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3
[dn]
CN = CLFS Harness Test Signing
[v3]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
"""


@dataclass(frozen=True)
class TestCertificate:
    cert: Path   # PEM certificate (public; what the guest imports into its trusted stores)
    key: Path    # PEM private key (0600)


def ensure_test_certificate(cert_dir: Path, *, openssl: str | None = None) -> TestCertificate:
    """Return the test certificate under ``cert_dir``, creating it on first use.

    Raises:
        BuildError: openssl is missing or failed, or the directory is inside a git work tree.
    """
    cert_dir = Path(cert_dir).expanduser()
    cert, key = cert_dir / "test.crt", cert_dir / "test.key"
    if cert.exists() and key.exists():
        return TestCertificate(cert, key)
    _refuse_repository(cert_dir)
    openssl = openssl or shutil.which("openssl")
    if openssl is None:
        raise BuildError("openssl is not installed (apt-get install openssl): cannot create the test certificate")
    cert_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(cert_dir, 0o700)
    config = cert_dir / "openssl.cnf"
    config.write_text(OPENSSL_CONFIG)
    tmp_key, tmp_cert = cert_dir / "test.key.tmp", cert_dir / "test.crt.tmp"
    old_umask = os.umask(0o077)
    try:
        proc = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:3072", "-sha256", "-days", "3650", "-nodes",
             "-keyout", str(tmp_key), "-out", str(tmp_cert), "-config", str(config)],
            capture_output=True, text=True, timeout=120)
    finally:
        os.umask(old_umask)
    if proc.returncode != 0:
        for p in (tmp_key, tmp_cert):
            p.unlink(missing_ok=True)
        # openssl's stderr never contains the key; keep only its tail
        raise BuildError("openssl could not create the test certificate", proc.stderr[-2000:])
    os.chmod(tmp_key, 0o600)
    tmp_key.replace(key)
    tmp_cert.replace(cert)
    return TestCertificate(cert, key)


def _refuse_repository(path: Path) -> None:
    """The key must never land in a work tree where `git add` could pick it up."""
    probe = path.resolve()
    for parent in (probe, *probe.parents):
        if (parent / ".git").exists():
            raise BuildError(f"refusing to create the test certificate inside the git work tree {parent}: "
                             f"set CLFS_HARNESS_CERT_DIR to a directory outside it")

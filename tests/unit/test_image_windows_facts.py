"""The facts a provisioned guest reports are checked, not copied into the manifest."""

from __future__ import annotations

import hashlib

import pytest

from harness.images import ImageBuildError
from harness.images.windows_facts import Expected, check_facts, check_host_key
from harness.images.windows_media import EDITIONS
from image_fakes import good_facts, host_key_line

CERT = b"\x30\x82fake certificate DER"
EXPECTED = Expected(EDITIONS["win11-pro"], "kernel", hashlib.sha1(CERT).hexdigest())


def test_good_facts_become_the_manifest_windows_object():
    facts = good_facts(CERT, clfs_authentication="learning")
    host_key, windows = check_facts(facts, EXPECTED)
    assert host_key == facts["host_key"]
    assert windows == {"build": 26100, "revision": 2894, "edition": "Professional",
                       "product_name": "Windows 10 Pro", "installation_type": "Client", "dump_type": "kernel",
                       "test_signing": True, "clfs_authentication": "learning", "display_version": "24H2"}


def test_evaluation_edition_ids_and_server_core_pass():
    expected = Expected(EDITIONS["server2022-datacenter"], "automatic", EXPECTED.test_cert_sha1)
    facts = good_facts(CERT, build="20348", edition="ServerDatacenterEval", installation_type="Server Core",
                       dump_type="automatic", display_version=None, sample_submission="no-defender")
    assert check_facts(facts, expected)[1]["edition"] == "ServerDatacenterEval"


@pytest.mark.parametrize("changes, problem", [
    ({"build": None, "revision": None}, "missing build, revision"),
    ({"favourite_colour": "blue"}, "unknown favourite_colour"),
    ({"build": "22631x"}, "build='22631x': not a build number"),
    ({"build": "19045"}, "build='19045': win11-pro is build 22000-: the ISO holds another Windows"),
    ({"edition": "Enterprise"}, "edition='Enterprise': want Professional"),
    ({"installation_type": "Server"}, "installation_type='Server': want 'Client' for win11-pro"),
    ({"dump_type": "automatic"}, "dump_type='automatic': want kernel"),
    ({"test_signing": "off"}, "test signing is not on"),
    ({"test_cert_sha1": "00" * 20}, "the imported certificate is not the test certificate"),
    ({"clfs_authentication": "maybe"}, "want enforcing, learning, disabled, absent or mode-N"),
    ({"ssh_password_auth": "yes"}, "password authentication must be off"),
    ({"windows_update": "on"}, "windows_update='on': want off"),
    ({"sample_submission": "always"}, "sample_submission='always'"),
    ({"host_key": "ssh-rsa AAAAB3NzaC1yc2E="}, "want 'ssh-ed25519 <base64>'"),
    ({"host_key": "ssh-ed25519 bm90IGEga2V5"}, "not an ed25519 public key"),
])
def test_each_wrong_fact_fails_the_build_by_name(changes, problem):
    with pytest.raises(ImageBuildError) as info:
        check_facts(good_facts(CERT, **changes), EXPECTED)
    assert str(info.value).startswith("the guest's facts do not match the build: ")
    assert problem in str(info.value)


def test_all_problems_are_reported_together():
    with pytest.raises(ImageBuildError) as info:
        check_facts(good_facts(CERT, test_signing="off", dump_type="automatic"), EXPECTED)
    assert "dump_type=" in str(info.value) and "test_signing=" in str(info.value)


def test_server_builds_are_exact():
    expected = Expected(EDITIONS["server2019-standard-desktop"], "kernel", EXPECTED.test_cert_sha1)
    facts = good_facts(CERT, build="20348", edition="ServerStandard", installation_type="Server")
    with pytest.raises(ImageBuildError, match="server2019-standard-desktop is build 17763:"):
        check_facts(facts, expected)


def test_host_key_is_normalised_to_type_and_key():
    line = host_key_line()
    assert check_host_key(f"{line}") == line
    with pytest.raises(ValueError):
        check_host_key(f"{line} root@guest")


def _provision_mode_names() -> dict[int, str]:
    """The Mode -> name table provision.ps1 writes into the image's facts."""
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "vm_images" / "windows" / "provision.ps1").read_text()
    table = re.search(r"\$mode = @\{([^}]*)\}\[\[int\]\$auth\.Mode\]", text).group(1)
    return {int(k): v for k, v in re.findall(r"(\d+) = '([a-z]+)'", table)}


def test_the_image_names_authentication_modes_as_the_target_identity_does():
    # One naming for one registry value: the manifest (built by provision.ps1) and the results'
    # identity (winparse, read live at run time) must agree, or a baseline keyed on one would never
    # match the other.
    from harness.guest.winparse import CLFS_AUTH_MODES, clfs_authentication_name
    assert _provision_mode_names() == CLFS_AUTH_MODES
    for name in (*CLFS_AUTH_MODES.values(), clfs_authentication_name(7), "absent"):
        facts = good_facts(CERT, clfs_authentication=name)
        assert check_facts(facts, EXPECTED)[1]["clfs_authentication"] == name
    for old in ("enforced", "other-7"):
        with pytest.raises(ImageBuildError, match="want enforcing"):
            check_facts(good_facts(CERT, clfs_authentication=old), EXPECTED)

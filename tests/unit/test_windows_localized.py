"""No decision depends on a word Windows prints in its display language.

Every output in tests/unit/data/windows (README.md there: recorded transcripts and built JSON)
is fed to its parser twice: as recorded, and with every English word replaced by a made-up one
(in JSON, every word of every string value Windows supplies). The decisions must not change.
The recorded German, French and Russian sc.exe transcripts are the same test, done by Windows.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.guest.winparse import parse_facts, parse_sc, parse_service_state, parse_verifier_settings

DATA = Path(__file__).parent / "data" / "windows"
_WORD = re.compile(r"[A-Za-z]{2,}")


def unenglish(text: str) -> str:
    """Every run of two or more ASCII letters replaced by a word of the same length in no language."""
    return _WORD.sub(lambda m: "Q" + "x" * (len(m.group()) - 1), text)


def unenglish_json(text: str, keep: tuple[str, ...] = ()) -> str:
    """The same for the string values of a JSON object (its keys are ours, not Windows')."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    raw = json.loads(text.lstrip("\ufeff"))
    out = {k: unenglish(v) if isinstance(v, str) and k not in keep else v for k, v in raw.items()}
    return bom + json.dumps(out)


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8-sig" if not name.endswith("_bom.json") else "utf-8")


# (file, action, sc.exe's exit code, decision: ok, error)
SC = [("sc_start_577_en.txt", "start", 577), ("sc_start_577_ru.txt", "start", 577),
      ("sc_query_1060_de.txt", "stop", 1060), ("sc_start_1060_fr.txt", "start", 1060),
      ("sc_stop_1062_en.txt", "stop", 1062), ("sc_delete_success_en.txt", "delete", 0),
      ("sc_create_success_en.txt", "create", 0)]


def sc_decision(action, code, text):
    out = parse_sc(action, code, text)
    return out.ok, out.error


def facts_decision(text):
    f = parse_facts(text)
    return (f.build, f.revision, f.test_signing_in_effect, f.admin, f.secure_boot, f.crash_dump_enabled,
            f.nmi_crash_dump, f.auto_reboot)


def service_decision(text):
    s = parse_service_state(text)
    return s.exists, s.started, s.exit_code


def verifier_decision(text):
    v = parse_verifier_settings(text)
    return v.drivers, v.level, tuple(v.missing(("clfstest.sys",)))


# The registry's SystemStartOptions and EditionID, and VerifyDrivers, are identifiers Windows never
# translates (boot options, edition and driver names): kept. Everything else is replaced.
JSON = ([(name, facts_decision, ("start_options", "edition", "build")) for name in
         ("facts_testsigning.json", "facts_no_testsigning.json", "facts_testsigning_bom.json")]
        + [(name, service_decision, ()) for name in
           ("service_running.json", "service_stopped_577.json", "service_absent.json")]
        + [(name, verifier_decision, ("drivers",)) for name in ("verifier_standard.json", "verifier_off.json")])


@pytest.mark.parametrize("name, action, code", SC, ids=[s[0] for s in SC])
def test_sc_decisions_survive_every_word_replaced(name, action, code):
    text = read(name)
    replaced = unenglish(text)
    assert replaced != text or not _WORD.search(text)
    decided = sc_decision(action, code, text)
    assert decided == (code == 0, code)
    assert sc_decision(action, code, replaced) == decided
    print(f"{name}: {decided} both ways; e.g. {replaced.strip().splitlines()[0][:60]!r}")


@pytest.mark.parametrize("name, decide, keep", JSON, ids=[j[0] for j in JSON])
def test_json_decisions_survive_every_word_replaced(name, decide, keep):
    text = read(name)
    replaced = unenglish_json(text, keep)
    decided = decide(text)
    assert decide(replaced) == decided
    print(f"{name}: {decided} both ways")


def test_every_recorded_output_is_replayed():
    replayed = {s[0] for s in SC} | {j[0] for j in JSON} | {"bcdedit_enum_de.txt"}
    assert replayed == {p.name for p in DATA.iterdir() if p.name != "README.md"}


def test_test_signing_is_not_read_from_bcdedit():
    """The German bcdedit transcript has no 'identifier' line and would have been refused; the
    adapter no longer runs bcdedit: test signing is SystemStartOptions' TESTSIGNING."""
    from harness.guest import wincmd
    assert "Bezeichner" in read("bcdedit_enum_de.txt")
    assert not any("bcdedit" in command for command in wincmd.all_commands().values())
    assert facts_decision(read("facts_testsigning.json"))[2] is True
    assert facts_decision(read("facts_no_testsigning.json"))[2] is False

"""The Markdown summary of a run: counts per outcome, then every case that did not pass."""

from __future__ import annotations

from harness.protocol.results import simulated_by
from harness.report.record import first_difference
from harness.verdict.outcome import OUTCOMES, PASS, SKIP


def render_markdown(results: dict) -> str:
    """Markdown for a results document (the dict written as results JSON)."""
    target = results["target"]
    lines = [f"## clfs-harness: {results['summary']['total']} cases on target `{target['name']}`", ""]
    if (target.get("identity") or {}).get("standin"):
        lines += ["> Results of the CLFS.SYS **stand-in** under Wine (the real clfstest.sys and clfsctl.exe "
                  "against the documented-rules model), not of Windows. "
                  + target["identity"].get("not_checked", ""), ""]
    elif target.get("model"):
        lines += ["> Results of the documented-rules **model**, not of Windows.", ""]
    lab = results.get("lab") or {}
    facts = [f"kind `{target.get('kind', target['name'])}`",
             f"lab file `{lab['source']}`" if lab.get("source") else "no lab file (defaults)"]
    identity = target.get("identity") or {}
    for key in ("windows_build", "image", "image_sha256", "driver_sha256", "model_sha256", "accel",
                "wine_version", "standin_sha256"):
        if identity.get(key):
            value = identity[key]
            facts.append(f"{key} `{value[:16] + '…' if key.endswith('sha256') else value}`")
    if not results.get("complete", True):
        lines += ["> **Interrupted**: these are the cases that finished before the run was stopped.", ""]
    lines += ["Target: " + ", ".join(facts) + ".", ""]
    counts = results["summary"]
    lines += ["| " + " | ".join(OUTCOMES) + " |", "|" + "---|" * len(OUTCOMES),
              "| " + " | ".join(str(counts[o]) for o in OUTCOMES) + " |", ""]
    if results.get("collection_errors"):
        lines += ["### Scenario files with problems", ""]
        lines += [f"- `{line}`" for line in results["collection_errors"]]
        lines.append("")
    bad = [c for c in results["cases"] if c["outcome"] not in (PASS, SKIP)]
    if bad:
        lines += ["### Not passed", "", "| case | outcome | first mismatch |", "|---|---|---|"]
        for case in bad:
            lines.append(f"| `{case['id']}` | {case['outcome']} | {_first_mismatch(case)} |")
        lines.append("")
    phased = [c for c in results["cases"] if c.get("phases")]
    if phased:
        lines += ["### Cases in phases", "",
                  "| case | phase | began with | ready again | came back | lost | cut during the request |",
                  "|---|---|---|---|---|---|---|"]
        for case in phased:
            for p in case["phases"]:
                ready = "" if p.get("restart_s") is None else f"{p['restart_s']:.2f} s"
                began = p.get("restart") or "start"
                if not p.get("ran", True):
                    began += " (not run)"
                lines.append(f"| `{case['id']}` | {p['phase']} | {began} | {ready} | "
                             f"{len(p['survived']) if 'survived' in p else ''} | "
                             f"{len(p['lost']) if 'lost' in p else ''} | {cut_text(p)} |")
        lines.append("")
    skipped = [c for c in results["cases"] if c["outcome"] == SKIP]
    if skipped:
        lines += [f"<details><summary>{len(skipped)} skipped</summary>", ""]
        lines += [f"- `{c['id']}`: {c['message']}" for c in skipped]
        lines += ["", "</details>", ""]
    run_dir = (results.get("run") or {}).get("dir")
    if run_dir:
        lines.append(f"Case artefacts (request/response bytes, console, screenshots, dumps): `{run_dir}/cases/`.")
        lines.append("")
    lines.append(f"Duration: {results['duration_s']:.1f} s. Results JSON schema version {results['schema_version']}.")
    return "\n".join(lines) + "\n"


def _first_mismatch(case: dict) -> str:
    return first_difference(case).replace("|", "\\|")[:200]


def cut_text(phase: dict) -> str:
    """A phase whose power was cut while its request ran: when, and whether the request was still
    running; a durable phase after one: how many of the burst's records came back."""
    cut, burst = phase.get("cut"), phase.get("burst")
    if cut:
        if cut.get("simulated"):
            return f"simulated ({simulated_by(cut)}): after {cut.get('appended_before_cut')} burst records"
        state = "request had ENDED (not mid-request)" if cut.get("request_ended") else "request in flight"
        return f"at {cut['cut_ms']:.0f} ms, {state}"
    if burst:
        of = "answer lost" if burst.get("appended") is None else f"of {burst['appended']} appended"
        return f"burst: {burst['came_back']} came back whole ({of})" + (", TORN/CORRUPT" if burst.get("bad") else "")
    return ""

"""The run as one HTML page people browse: ``--html PATH``.

One self-contained file: styles and the filter script inline, crash and hang screenshots
embedded as ``data:`` images, and a Content-Security-Policy that forbids the page any network
fetch. Links to a case's artefacts (console, request/response bytes, dumps) are relative to the
page, so a CI job that uploads the page with the run folder keeps them working.

The page: the target and its identity (model results are labelled so), counts by outcome, a
table of cases filterable by outcome and text (also from the address: ``#outcome=FAIL,HANG&q=alloc``),
and per case its steps (op, line, context, expected and observed status, IRQL, outputs, time),
the diff of a failure or baseline change, its known issue, and its artefacts.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

from harness.report.record import first_difference
from harness.report.summary import cut_text
from harness.verdict.judge import IRQL_NAMES
from harness.verdict.outcome import OUTCOMES, PASS, SKIP

MAX_INLINE_IMAGE = 4 << 20  # bytes; a larger screenshot is linked, not embedded
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
_COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "CONTRACT": "#8250df", "BUGCHECK": "#a40e26",
            "HANG": "#bc4c00", "INFRA": "#6e7781", "SKIP": "#6e7781", "XFAIL": "#9a6700", "XPASS": "#0969da"}

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1f2328}
h1{font-size:1.4em;margin:0 0 .3em}
table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #d0d7de;padding:.2em .5em;text-align:left;vertical-align:top}
td.t{white-space:nowrap}
th{background:#f6f8fa}
.o{color:#fff;border-radius:3px;padding:0 .4em;font-weight:600;font-size:.9em}
.model{background:#fff8c5;border:1px solid #d4a72c;padding:.4em .8em;margin:.5em 0}
.bad td{background:#ffebe9}
.phase td{background:#eef2ff}
pre{background:#f6f8fa;padding:.5em;overflow-x:auto;font-size:12px}
details{margin:.2em 0}
img.shot{max-width:420px;border:1px solid #d0d7de;display:block;margin:.3em 0}
#filters label{margin-right:.8em}
tr.case[hidden],tr.detail[hidden]{display:none}
"""

# Reads the checkboxes and the text box (initially from location.hash) and hides other rows.
_SCRIPT = """
(function(){
  var boxes=[].slice.call(document.querySelectorAll('#filters input[type=checkbox]'));
  var text=document.getElementById('q');
  var h=new URLSearchParams(location.hash.slice(1));
  if(h.get('outcome')){var want=h.get('outcome').split(',');boxes.forEach(function(b){b.checked=want.indexOf(b.value)>=0;});}
  if(h.get('q')){text.value=h.get('q');}
  function apply(){
    var on=boxes.filter(function(b){return b.checked;}).map(function(b){return b.value;});
    var q=text.value.toLowerCase(), shown=0;
    document.querySelectorAll('tr.case').forEach(function(r){
      var ok=on.indexOf(r.dataset.outcome)>=0&&(!q||r.dataset.id.toLowerCase().indexOf(q)>=0);
      r.hidden=!ok; var d=document.getElementById(r.dataset.detail); if(d){d.hidden=!ok;} if(ok){shown++;}
    });
    document.getElementById('shown').textContent=shown;
  }
  boxes.forEach(function(b){b.addEventListener('change',apply);});
  text.addEventListener('input',apply);
  apply();
})();
"""


def render_html(results: dict, page_path: Path) -> str:
    """The page for a results document; artefact links are relative to ``page_path``."""
    target = results["target"]
    e = html.escape
    title = f"clfs-harness: {results['summary']['total']} cases on target {target['name']}"
    out = ["<!DOCTYPE html>", "<html lang=en><head><meta charset=utf-8>",
           f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
           f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>", f"<h1>{e(title)}</h1>"]
    identity = target.get("identity") or {}
    if identity.get("standin"):
        out.append('<div class="model" id="model-note">Results of the CLFS.SYS <b>stand-in</b> under Wine (the '
                   'real clfstest.sys and clfsctl.exe against the documented-rules model), not of Windows. '
                   + e(identity.get("not_checked", "")) + "</div>")
    elif target.get("model"):
        out.append('<div class="model" id="model-note">Results of the documented-rules <b>model</b>, '
                   'not of Windows.</div>')
    if not results.get("complete", True):
        out.append('<div class="model"><b>Interrupted</b>: the cases that finished before the run was stopped.</div>')
    out.append(_identity_table(results))
    out.append(_counts(results))
    if results.get("collection_errors"):
        out.append("<h2>Scenario files with problems</h2><pre>"
                   + e("\n".join(results["collection_errors"])) + "</pre>")
    out.append(_filters(results))
    out.append(_case_table(results, Path(page_path)))
    out.append(f"<p>Duration {results['duration_s']:.1f} s; started {e(results['started'])}; "
               f"results JSON schema version {results['schema_version']}.</p>")
    out.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(out) + "\n"


def _identity_table(results: dict) -> str:
    target, e = results["target"], html.escape
    rows = [("target", target["name"]), ("kind", target["kind"]), ("run", (results.get("run") or {}).get("stamp", ""))]
    # The identity's own "target" is the kind's name, shown above as kind.
    rows += [(k, str(v)) for k, v in sorted((target.get("identity") or {}).items()) if k != "target"]
    lab = results.get("lab") or {}
    rows.append(("lab file", lab.get("source") or "none (defaults)"))
    body = "".join(f"<tr><th>{e(k)}</th><td><code>{e(str(v))}</code></td></tr>" for k, v in rows)
    return f'<table id="identity">{body}</table>'


def _badge(outcome: str) -> str:
    return f'<span class="o" style="background:{_COLOURS.get(outcome, "#57606a")}">{outcome}</span>'


def _counts(results: dict) -> str:
    counts = results["summary"]
    head = "".join(f"<th>{_badge(o)}</th>" for o in OUTCOMES) + "<th>total</th>"
    cells = "".join(f'<td id="count-{o}">{counts.get(o, 0)}</td>' for o in OUTCOMES)
    return f'<table id="counts"><tr>{head}</tr><tr>{cells}<td id="count-total">{counts["total"]}</td></tr></table>'


def _filters(results: dict) -> str:
    present = [o for o in OUTCOMES if results["summary"].get(o)]
    boxes = "".join(f'<label><input type=checkbox value="{o}" checked> {o}</label>' for o in present)
    return (f'<h2>Cases (<span id="shown">{len(results["cases"])}</span> shown)</h2>'
            f'<div id="filters">{boxes}<input id="q" type=search placeholder="filter by case ID" size=40></div>')


def _case_table(results: dict, page: Path) -> str:
    e = html.escape
    rows = ['<table id="cases"><tr><th>case</th><th>outcome</th><th>time</th><th>first difference</th></tr>']
    # What needs a look first: failures, then lab errors, known issues, skips, passes.
    order = {o: i for i, o in enumerate(("FAIL", "CONTRACT", "BUGCHECK", "HANG", "INFRA", "XPASS", "XFAIL",
                                         "SKIP", "PASS"))}
    ranked = sorted(results["cases"], key=lambda c: (order.get(c["outcome"], 0), c["id"]))
    for n, case in enumerate(ranked):
        outcome = case["outcome"]
        first = "" if outcome in (PASS, SKIP) else first_difference(case)
        if outcome == SKIP:
            first = case["message"]
        rows.append(f'<tr class="case" data-outcome="{outcome}" data-id="{e(case["id"])}" data-detail="d{n}">'
                    f'<td><a href="#d{n}"><code>{e(case["id"])}</code></a></td><td>{_badge(outcome)}</td>'
                    f'<td class="t">{case["duration_s"]:.2f} s</td><td>{e(first)}</td></tr>')
        rows.append(f'<tr class="detail" id="d{n}"><td colspan=4>{_case_detail(case, page)}</td></tr>')
    rows.append("</table>")
    return "\n".join(rows)


def _case_detail(case: dict, page: Path) -> str:
    e = html.escape
    facts = [f"<code>{e(case['file'])}:{case.get('line', 1)}</code>"]
    if case.get("params"):
        facts.append(", ".join(f"{e(k)}={e(str(v))}" for k, v in case["params"].items()))
    for key in ("worker", "host", "attempts"):
        if case.get(key) is not None:
            facts.append(f"{key} {e(str(case[key]))}")
    parts = [f"<details{' open' if case['outcome'] not in (PASS, SKIP) else ''}>"
             f"<summary>{' · '.join(facts)}</summary>"]
    if case.get("known_issue"):
        text = e(case["known_issue"])
        link = next((w for w in case["known_issue"].split() if w.startswith(("http://", "https://"))), None)
        if link:
            text = text.replace(e(link), f'<a href="{e(link)}">{e(link)}</a>', 1)
        parts.append(f'<p class="known">{text}</p>')
    if case.get("phases"):
        parts.append(_phases_table(case["phases"]))
    if case["steps"]:
        parts.append(_steps_table(case["steps"], bool(case.get("phases"))))
    if case.get("message") and case["outcome"] != PASS:
        parts.append(f'<pre class="diff">{e(case["message"])}</pre>')
    parts.append(_artefacts(case, page))
    parts.append("</details>")
    return "".join(parts)


def _phases_table(phases: list[dict]) -> str:
    """A case in phases: how each began, how long the restart took, what came back after it."""
    e = html.escape
    head = ("<tr><th>phase</th><th>began with</th><th>ready again</th><th>ran</th><th>came back</th><th>lost</th>"
            "<th>cut during the request</th></tr>")
    rows = []
    for p in phases:
        ready = "" if p.get("restart_s") is None else f"{p['restart_s']:.2f} s"
        rows.append(f"<tr><td>{p['phase']}</td><td>{e(p.get('restart') or 'start')}</td><td>{ready}</td>"
                    f"<td>{'yes' if p.get('ran') else 'no'}</td><td>{e(', '.join(p.get('survived', [])))}</td>"
                    f"<td>{e(', '.join(p.get('lost', [])))}</td><td>{e(cut_text(p))}</td></tr>")
    return f'<table class="phases">{head}{"".join(rows)}</table>'


def _steps_table(steps: list[dict], phased: bool = False) -> str:
    e = html.escape
    head = ("<tr><th>#</th><th>op</th><th>line</th><th>context</th><th>expected</th><th>observed status</th>"
            "<th>IRQL</th><th>outputs</th><th>time</th></tr>")
    rows = []
    phase = None
    for s in steps:
        if phased and s.get("phase") != phase:
            phase = s.get("phase")
            rows.append(f'<tr class="phase"><td colspan=9><b>phase {phase}</b></td></tr>')
        status = s["status_name"] if s["disposition"] == "ran" else s["disposition"].replace("_", " ")
        if s["disposition"] == "ran" and s["status"] is not None:
            status = f"{s['status_name']} (0x{s['status']:08X})"
        irql = "" if s["irql"] is None else IRQL_NAMES.get(s["irql"], str(s["irql"]))
        outputs = ", ".join(f"{k}={v}" for k, v in s["outputs"].items())
        time_us = "" if s["elapsed_us"] is None else f"{s['elapsed_us']} µs"
        rows.append(f'<tr class="{"" if s["ok"] else "bad"}"><td>{s["index"]}</td><td><code>{e(s["op"])}</code></td>'
                    f'<td>{s.get("line", "")}</td><td>{e(s["context"])}</td><td>{e(s["expected"])}</td>'
                    f'<td>{e(status or "")}</td><td>{e(irql)}</td><td>{e(outputs)}</td><td>{time_us}</td></tr>')
        for m in s["mismatches"]:
            rows.append(f'<tr class="bad mismatch"><td></td><td colspan=8>{e(m["what"])}: expected '
                        f'<b>{e(m["expected"])}</b>, observed <b>{e(m["observed"])}</b></td></tr>')
    return f'<table class="steps">{head}{"".join(rows)}</table>'


def _artefacts(case: dict, page: Path) -> str:
    artefacts = case.get("artefacts") or {}
    folder, files = artefacts.get("dir"), artefacts.get("files") or []
    if not folder or not files:
        return ""
    e = html.escape
    links, shots = [], []
    for name in files:
        path = Path(folder) / name
        href = os.path.relpath(path, page.resolve().parent) if page else str(path)
        links.append(f'<a href="{e(href)}">{e(name)}</a>')
        if name.startswith("screenshot-") and name.endswith(".png") and path.is_file() \
                and path.stat().st_size <= MAX_INLINE_IMAGE:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            shots.append(f'<figure><img class="shot" alt="{e(name)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{e(name)}</figcaption></figure>")
    return f'<p class="artefacts">artefacts: {" · ".join(links)}</p>' + "".join(shots)

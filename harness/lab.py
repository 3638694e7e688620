"""The lab file: where cases run, on which libvirt hosts, with what timeouts and artefact folder.

A CI runner describes its lab once, in YAML (``clfs-lab.yaml`` at the project root, or the file
named by ``--lab`` / ``$CLFS_HARNESS_LAB``)::

    default_target: smoke
    artefact_dir: /var/tmp/clfs-runs      # per-run folder: reports and one folder per case
    infra_retries: 1                      # a lab failure is retried this often, then an error
    keep_runs: 20                         # run folders kept under artefact_dir (the newest)
    accel: auto                           # auto (probe KVM, fall back to TCG), kvm or tcg
    timeouts: {boot: 2m, command: 60s}
    hosts:                                # pytest-xdist workers are spread over these by capacity
      - {uri: "qemu:///system", capacity: 2}
      - {uri: "qemu+ssh://runner2/system", capacity: 4}
    targets:                              # named targets beyond the built-in model, smoke, windows
      win11-23h2: {kind: windows, image: /srv/clfs/images/win11, verifier: true}

Without a lab file every setting has its default, the default target is ``model``, and every
report says so. Precedence, later wins: defaults, the lab file, ``CLFS_HARNESS_*`` environment
variables, the command line. Every problem in the file is reported at once, one line each,
as ``file:line:col: field: message``; nothing is half-applied.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import LabConfig
from harness.errors import UsageError
from harness.scenario.values import ValueProblem, parse_duration, suggest
from harness.scenario.yamlsrc import MAX_FILE_BYTES, YamlProblem, decode_text, load_documents

LAB_FILE_NAME = "clfs-lab.yaml"
MAX_CAPACITY = 256

# Per target kind: option -> (type, description). A name not here is refused with the list.
KIND_OPTIONS: dict[str, dict[str, tuple[type, str]]] = {
    "model": {},
    "wine": {},
    "smoke": {
        # Lab faults for testing the pipeline itself: case-ID glob -> what the guest does
        # instead of running the case. They make the lab (not CLFS) misbehave, for real.
        "faults": (dict, "case-ID glob -> panic | hang | kill-sshd | kill-sshd-once"),
    },
    "windows": {
        "image": (str, "the image directory or manifest.json (clfs-harness image build windows)"),
        "verifier": (bool, "Driver Verifier standard flags on clfstest.sys"),
        "verifier_clfs": (bool, "... and on clfs.sys too"),
        "wait_for_dump": (bool, "let a bugchecked guest write its own dump and reboot"),
        "domain_log_dir": (str, "where libvirt writes <domain>.log (the Hyper-V panic line)"),
        "boot_timeout_s": ((int, float), "seconds to SSH-ready (default: at least 600)"),
        "reboot_timeout_s": ((int, float), "seconds a reboot may take"),
        "dump_timeout_s": ((int, float), "seconds to wait for a dump after a bugcheck"),
        "max_dump_mib": ((int, float), "largest dump copied into a case folder"),
    },
}
SMOKE_FAULTS = ("panic", "hang", "kill-sshd", "kill-sshd-once")
_TOP_KEYS = ("version", "default_target", "artefact_dir", "cache_dir", "infra_retries", "keep_runs",
             "accel", "timeouts", "hosts", "targets", "known_issues")
_TIMEOUT_KEYS = {"boot": "boot_timeout_s", "command": "command_timeout_s"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Host:
    """A libvirt host and how many VMs (workers) it takes at once."""

    uri: str
    capacity: int


@dataclass(frozen=True)
class TargetDef:
    name: str
    kind: str
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Lab:
    """The resolved lab: configuration, hosts, targets. ``source`` is the file, or None."""

    config: LabConfig
    hosts: tuple[Host, ...]
    targets: dict[str, TargetDef]
    default_target: str = "model"
    infra_retries: int = 1
    source: Path | None = None
    known_issues: dict = field(default_factory=dict)  # case-ID glob -> tuple of KnownIssue

    def known_issues_for(self, case_id: str) -> tuple:
        """The lab file's known issues whose case-ID glob matches ``case_id``."""
        return tuple(issue for pattern, issues in self.known_issues.items()
                     if fnmatch.fnmatchcase(case_id, pattern) for issue in issues)

    def target(self, name: str) -> TargetDef:
        """The definition of target ``name``. Raises UsageError naming the known ones."""
        found = self.targets.get(name)
        if found is None:
            known = ", ".join(sorted(self.targets))
            where = f" (lab file {self.source})" if self.source else ""
            raise UsageError(f"unknown target {name!r}{suggest(name, self.targets)}. Known{where}: {known}")
        return found

    @property
    def capacity(self) -> int:
        return sum(h.capacity for h in self.hosts)

    def host_for(self, worker_index: int, worker_count: int) -> Host:
        """The host worker ``worker_index`` (0-based) of ``worker_count`` runs its VM on.

        Workers fill hosts in the file's order, each up to its capacity, so the first host
        (usually the local one) is used first and a second host only when it is full.

        Raises:
            UsageError: more workers than the hosts' capacities add up to.
        """
        if worker_count > self.capacity:
            raise UsageError(f"{worker_count} workers, but the lab's hosts take {self.capacity} VM(s) "
                             f"({self.describe_hosts()}); lower --workers or add capacity")
        left = worker_index
        for host in self.hosts:
            if left < host.capacity:
                return host
            left -= host.capacity
        raise UsageError(f"worker {worker_index} is beyond the lab's capacity {self.capacity}")

    def describe_hosts(self) -> str:
        return ", ".join(f"{h.uri} x{h.capacity}" for h in self.hosts)

    def describe(self) -> str:
        return f"lab file {self.source}" if self.source else "no lab file (defaults)"


def builtin_targets() -> dict[str, str]:
    """Every registered target kind is also a target of that name: ``--target smoke`` works
    without a lab file. Name -> kind."""
    from harness import targets

    return {name: name for name in targets.known_targets()}


def find_lab_file(explicit: str | None, rootdir: Path, env: dict | None = None) -> Path | None:
    """``--lab``, else ``$CLFS_HARNESS_LAB``, else ``<rootdir>/clfs-lab.yaml`` when it exists."""
    env = os.environ if env is None else env
    named = explicit or env.get("CLFS_HARNESS_LAB")
    if named:
        path = Path(named)
        if not path.is_file():
            raise UsageError(f"lab file {named}: no such file")
        return path
    default = Path(rootdir) / LAB_FILE_NAME
    return default if default.is_file() else None


def load_lab(path: Path | None, env: dict | None = None) -> Lab:
    """Read and check the lab file (None: the defaults), then apply ``CLFS_HARNESS_*`` variables.

    Raises:
        UsageError: every problem in the file, one ``file:line:col: field: message`` line each.
    """
    env = os.environ if env is None else env
    values: dict = {}
    if path is not None:
        values = _parse(Path(path))
    file_config = values.pop("config", {})
    env_config = {f.name: getattr(LabConfig.from_env(env), f.name) for f in dataclasses.fields(LabConfig)
                  if f"CLFS_HARNESS_{f.name.upper()}" in env}
    config = LabConfig(**{**file_config, **env_config})
    hosts = values.get("hosts") or (Host(config.libvirt_uri, max(1, os.cpu_count() or 1)),)
    if "hosts" in values and "CLFS_HARNESS_LIBVIRT_URI" not in env:
        config = dataclasses.replace(config, libvirt_uri=hosts[0].uri)
    targets = {name: TargetDef(name, kind) for name, kind in builtin_targets().items()}
    targets.update(values.get("targets", {}))
    default = env.get("CLFS_HARNESS_TARGET") or values.get("default_target", "model")
    return Lab(config=config, hosts=tuple(hosts), targets=targets, default_target=default,
               infra_retries=values.get("infra_retries", 1), source=Path(path) if path else None,
               known_issues=values.get("known_issues", {}))


# ---- parsing ---------------------------------------------------------------------------------

class _Problems:
    def __init__(self, display: str, document):
        self.display, self.document, self.lines = display, document, []

    def add(self, path: tuple, message: str, *, key: bool = False) -> None:
        line, col = self.document.loc(path, key=key)
        field_name = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")
        self.lines.append((line, col, f"{self.display}:{line}:{col}: {field_name or 'lab file'}: {message}"))


def _parse(path: Path) -> dict:
    display = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"lab file {display}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise UsageError(f"{display}:1:1: lab file: {len(raw)} bytes, more than the {MAX_FILE_BYTES} allowed")
    try:
        documents = load_documents(decode_text(raw))
    except YamlProblem as exc:
        raise UsageError(f"{display}:{exc.line}:{exc.col}: {exc.message}") from None
    if len(documents) != 1 or not isinstance(documents[0].data, dict):
        raise UsageError(f"{display}:1:1: lab file: expected one YAML mapping "
                         f"(default_target, artefact_dir, hosts, targets, ...)")
    doc = documents[0]
    problems = _Problems(display, doc)
    values = _check(doc.data, problems)
    if problems.lines:
        raise UsageError("\n".join(text for _, _, text in sorted(problems.lines, key=lambda p: p[:2])))
    return values


def _check(data: dict, p: _Problems) -> dict:
    out: dict = {"config": {}}
    for key in data:
        if key not in _TOP_KEYS:
            p.add((key,), f"unknown field{suggest(key, _TOP_KEYS)}; known: {', '.join(_TOP_KEYS)}", key=True)
    if "version" in data and data["version"] != 1:
        p.add(("version",), f"expected 1, got {data['version']!r}")
    for key in ("artefact_dir", "cache_dir"):
        if key in data:
            if isinstance(data[key], str) and data[key].strip():
                out["config"]["run_dir" if key == "artefact_dir" else key] = Path(data[key]).expanduser()
            else:
                p.add((key,), f"expected a directory path, got {data[key]!r}")
    if "accel" in data:
        if data["accel"] in ("auto", "kvm", "tcg"):
            out["config"]["accel"] = data["accel"]
        else:
            p.add(("accel",), f"expected auto, kvm or tcg, got {data['accel']!r}")
    if "infra_retries" in data:
        value = data["infra_retries"]
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10:
            out["infra_retries"] = value
        else:
            p.add(("infra_retries",), f"expected an integer 0-10, got {value!r}")
    if "keep_runs" in data:
        value = data["keep_runs"]
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100000:
            out["config"]["keep_runs"] = value
        else:
            p.add(("keep_runs",), f"expected an integer 1-100000 (run folders kept), got {value!r}")
    out["config"].update(_check_timeouts(data.get("timeouts"), p))
    if "hosts" in data:
        out["hosts"] = _check_hosts(data["hosts"], p)
    if "targets" in data:
        out["targets"] = _check_targets(data["targets"], p)
    if "known_issues" in data:
        out["known_issues"] = _check_known_issues(data["known_issues"], p)
    if "default_target" in data:
        name = data["default_target"]
        known = {**builtin_targets(), **out.get("targets", {})}
        if name not in known:
            p.add(("default_target",), f"unknown target {name!r}{suggest(name, known)}; "
                                       f"known: {', '.join(sorted(known))}")
        out["default_target"] = name
    return out


def _check_timeouts(raw, p: _Problems) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        p.add(("timeouts",), f"expected a mapping such as {{boot: 2m, command: 60s}}, got {raw!r}")
        return {}
    out = {}
    limits = {"boot": (5, 3600), "command": (1, 86400)}
    for key, value in raw.items():
        if key not in _TIMEOUT_KEYS:
            p.add(("timeouts", key), f"unknown timeout{suggest(key, _TIMEOUT_KEYS)}; known: boot, command",
                  key=True)
            continue
        try:
            seconds = parse_duration(value)
        except ValueProblem as exc:
            p.add(("timeouts", key), str(exc))
            continue
        lo, hi = limits[key]
        if not lo <= seconds <= hi:
            p.add(("timeouts", key), f"{seconds:g} s is out of range, want [{lo}-{hi}] s")
            continue
        out[_TIMEOUT_KEYS[key]] = seconds
    return out


def _check_hosts(raw, p: _Problems) -> list[Host]:
    if not isinstance(raw, list) or not raw:
        p.add(("hosts",), "expected a list of {uri, capacity}, with at least one host")
        return []
    hosts, seen = [], set()
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            p.add(("hosts", i), f"expected a mapping {{uri: ..., capacity: N}}, got {entry!r}")
            continue
        for key in entry:
            if key not in ("uri", "capacity"):
                p.add(("hosts", i, key), f"unknown field{suggest(key, ('uri', 'capacity'))}; known: uri, capacity",
                      key=True)
        uri = entry.get("uri")
        if not isinstance(uri, str) or not re.match(r"^[a-z][a-z0-9+]*://", uri):
            p.add(("hosts", i, "uri") if "uri" in entry else ("hosts", i),
                  f"expected a libvirt URI such as qemu:///system or qemu+ssh://host/system, got {uri!r}")
            continue
        if uri in seen:
            p.add(("hosts", i, "uri"), f"{uri} is listed twice")
        seen.add(uri)
        capacity = entry.get("capacity", 1)
        if isinstance(capacity, bool) or not isinstance(capacity, int) or not 1 <= capacity <= MAX_CAPACITY:
            p.add(("hosts", i, "capacity"), f"expected an integer 1-{MAX_CAPACITY} (VMs at once), got {capacity!r}")
            continue
        hosts.append(Host(uri, capacity))
    return hosts


def _check_targets(raw, p: _Problems) -> dict[str, TargetDef]:
    if not isinstance(raw, dict):
        p.add(("targets",), "expected a mapping of target name -> {kind: ..., options}")
        return {}
    out = {}
    for name, entry in raw.items():
        path = ("targets", name)
        if not isinstance(name, str) or not _NAME_RE.match(name):
            p.add(path, f"bad target name {name!r}: letters, digits, '_', '-', '.'", key=True)
            continue
        if not isinstance(entry, dict):
            p.add(path, f"expected a mapping with kind: model | smoke | windows, got {entry!r}")
            continue
        kinds = builtin_targets()
        kind = entry.get("kind", kinds.get(name))
        if kind not in kinds:
            p.add(path + ("kind",) if "kind" in entry else path,
                  f"expected kind {', '.join(sorted(kinds))}, got {kind!r}")
            continue
        options = {}
        for key, value in entry.items():
            if key == "kind":
                continue
            allowed = KIND_OPTIONS.get(kind, {})
            spec = allowed.get(key)
            if spec is None:
                known = ", ".join(allowed) or "none"
                p.add(path + (key,), f"not an option of a {kind} target{suggest(key, allowed)}; "
                                     f"known: {known}", key=True)
            elif (not isinstance(value, spec[0]) or isinstance(value, bool) is not (spec[0] is bool)
                  or (spec[0] is str and not value.strip())):
                kind_name = getattr(spec[0], "__name__", "number")
                p.add(path + (key,), f"expected {kind_name} ({spec[1]}), got {value!r}")
            elif key == "faults":
                options[key] = _check_faults(value, path + (key,), p)
            else:
                options[key] = value
        out[name] = TargetDef(name, kind, options)
    return out


def _check_known_issues(raw, p: _Problems) -> dict:
    """``known_issues: {CASE-ID-GLOB: [issue, ...]}``, each issue as a scenario's (harness/scenario/known.py)."""
    from harness.scenario.known import parse_known_issues

    if not isinstance(raw, dict):
        p.add(("known_issues",), "expected a mapping of case IDs (globs) to lists of issues")
        return {}
    out = {}
    for pattern, issues in raw.items():
        path = ("known_issues", pattern)
        out[str(pattern)] = parse_known_issues(
            issues, None, lambda sub, message, key=False: p.add(path + sub, message.removeprefix("known_issues"),
                                                                key=key))
    return out


def _check_faults(raw: dict, path: tuple, p: _Problems) -> dict:
    out = {}
    for pattern, fault in raw.items():
        if fault not in SMOKE_FAULTS:
            p.add(path + (pattern,), f"unknown fault {fault!r}{suggest(fault, SMOKE_FAULTS)}; "
                                     f"known: {', '.join(SMOKE_FAULTS)}")
            continue
        out[str(pattern)] = fault
    return out


def fault_for(faults: dict, case_id: str) -> str | None:
    """The fault whose case-ID glob matches ``case_id`` first, or None."""
    for pattern, fault in faults.items():
        if fnmatch.fnmatchcase(case_id, pattern):
            return fault
    return None

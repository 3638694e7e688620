"""A minimal Language Server Protocol client for the editor tests: yaml-language-server over stdio.

Speaks JSON-RPC with ``Content-Length`` framing, answers the server's own requests (its
``workspace/configuration`` gets the ``yaml`` settings), opens documents and collects the
diagnostics the server publishes for each. The server is the project-local install that
``.ci/setup`` makes under ``.cache/yaml-language-server`` (pinned version, never global).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVER_DIR = REPO / ".cache" / "yaml-language-server"
SERVER = SERVER_DIR / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"


def server_command() -> list[str] | None:
    node = shutil_which("node")
    if node is None or not SERVER.is_file():
        return None
    return [node, str(SERVER), "--stdio"]


def shutil_which(name: str) -> str | None:
    import shutil

    return shutil.which(name)


class YamlLanguageServer:
    """One server process with the scenario schema mapped to ``*.scenario.yaml``."""

    def __init__(self, schema: Path, root: Path):
        self.settings = {"yaml": {"validate": True, "hover": False, "completion": False,
                                  "schemas": {schema.as_uri(): "*.scenario.yaml"},
                                  "schemaStore": {"enable": False}, "customTags": []}}
        self.proc = subprocess.Popen(server_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, cwd=root, env=dict(os.environ))
        self.messages: queue.Queue = queue.Queue()
        self.diagnostics: dict[str, list] = {}
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()
        self.request("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(),
                                    "capabilities": {"workspace": {"configuration": True}}})
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": self.settings})

    # -- framing ---------------------------------------------------------------------------
    def _send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        self.proc.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        self.proc.stdin.flush()

    def _read(self) -> None:
        stream = self.proc.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            self.messages.put(json.loads(stream.read(length)))

    # -- protocol --------------------------------------------------------------------------
    def notify(self, method: str, params: dict) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: dict, timeout: float = 60) -> dict:
        self._next_id += 1
        wanted = self._next_id
        self._send({"jsonrpc": "2.0", "id": wanted, "method": method, "params": params})
        return self._pump(lambda m: m.get("id") == wanted and "method" not in m, timeout)

    def _pump(self, done, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("yaml-language-server did not answer in time")
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if "method" in message and "id" in message:       # the server asks us something
                result = None
                if message["method"] == "workspace/configuration":
                    result = [self.settings.get(item.get("section", ""), self.settings["yaml"])
                              if item.get("section") != "yaml" else self.settings["yaml"]
                              for item in message["params"]["items"]]
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": result})
            elif message.get("method") == "textDocument/publishDiagnostics":
                self.diagnostics[message["params"]["uri"]] = message["params"]["diagnostics"]
            if done(message):
                return message

    def diagnose(self, path: Path, timeout: float = 60) -> list[dict]:
        """Open ``path`` and return the diagnostics the server publishes for it."""
        uri = path.resolve().as_uri()
        self.diagnostics.pop(uri, None)
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "yaml", "version": 1, "text": path.read_text(encoding="utf-8")}})
        self._pump(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                   and m["params"]["uri"] == uri, timeout)
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        return self.diagnostics[uri]

    def close(self) -> None:
        try:
            self.request("shutdown", {}, timeout=10)
            self.notify("exit", {})
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - the process goes either way
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

"""Acceptance: the real Claude Code (npm `@anthropic-ai/claude-code`, pinned) against the gateway run as a user runs it.

The gateway is a `mitmdump -s addon/gateway.py … --set interlock_demo=true` subprocess (demo mode: the built-in
simulator answers, no network). Claude Code runs headless as reference/clients.md §2.1 and §7 say: `env -i`, a
throw-away HOME, ANTHROPIC_BASE_URL (bare) + ANTHROPIC_API_KEY, telemetry and non-essential traffic off,
`claude -p … --output-format json`. Its default model name (claude-opus-4-8) maps to a thinking Claude-family
upstream, so every turn carries adaptive thinking and signed thought parts.

One test starts Claude Code interactively in a private tmux server (§2.1's pre-seeded `~/.claude.json` skips the
onboarding and trust dialogs) and types a prompt: that start sends the structured title-generation request (§2.2),
which the gateway records with `mitmdump -w` and the test reads back after stopping it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clients import INSTALL_TIMEOUT_S, REPO, ensure_npm_client  # noqa: E402
from demo_gateway import CliRun, Gateway, client_path, run_cli, running_gateway  # noqa: E402

CLAUDE_CODE = ("@anthropic-ai/claude-code", "2.1.197")  # the version reference/clients.md §2 describes
CAPTURES = REPO.parent / "shared" / "fixtures" / "clients"
CLI_TIMEOUT_S = 90

pytestmark = [pytest.mark.acceptance, pytest.mark.timeout(INSTALL_TIMEOUT_S + 300)]


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    return ensure_npm_client(*CLAUDE_CODE)


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory):
    with running_gateway(tmp_path_factory.mktemp("claude-gateway")) as gw:
        yield gw


def client_env(bin_dir: Path, home: Path, gw: Gateway, api_key: str = "sk-test") -> dict[str, str]:
    """The whole environment of a Claude Code run, as with `env -i`."""
    return {
        "PATH": client_path(bin_dir), "HOME": str(home), "TERM": "xterm",
        "ANTHROPIC_BASE_URL": gw.url, "ANTHROPIC_API_KEY": api_key,  # bare base URL: the client adds /v1
        "DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


def run_claude(bin_dir: Path, home: Path, gw: Gateway, cwd: Path, prompt: str) -> CliRun:
    env = client_env(bin_dir, home, gw)
    cmd = [str(bin_dir / "claude"), "-p", prompt, "--output-format", "json"]
    stdout, stderr, returncode, seconds = run_cli(cmd, cwd, env, CLI_TIMEOUT_S)
    try:
        out = json.loads(stdout)
    except ValueError:
        out = None
    return CliRun(out, stdout, stderr, returncode, seconds)


def test_one_shot_prompt(claude_bin, live_gateway, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    run = run_claude(claude_bin, home, live_gateway, tmp_path, "say hi")
    assert isinstance(run.out, dict), f"no JSON on stdout\n{run.report(live_gateway)}"
    assert run.returncode == 0 and run.out["is_error"] is False, run.report(live_gateway)
    assert run.out["stop_reason"] == "end_turn" and "say hi" in run.out["result"], run.report(live_gateway)
    assert run.out["num_turns"] == 1, run.report(live_gateway)


def test_read_tool_round_trip(claude_bin, live_gateway, tmp_path):
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    notes = project / "notes.txt"
    notes.write_text("The secret word is PAPAYA.\n")
    run = run_claude(claude_bin, home, live_gateway, project, f"Use Read to read {notes} and tell me the secret word")
    assert isinstance(run.out, dict), f"no JSON on stdout\n{run.report(live_gateway)}"
    assert run.out["is_error"] is False, run.report(live_gateway)
    # PAPAYA is only in the file: it reaches the answer only through tool_use Read → tool_result → the
    # second turn, which echoes the first turn's signed thinking (the simulator refuses signatures it never issued).
    assert "PAPAYA" in run.out["result"], run.report(live_gateway)
    assert run.out["num_turns"] == 2, run.report(live_gateway)


def _captured_title_request() -> tuple[dict[str, str], dict]:
    for line in (CAPTURES / "claude-code-interactive.jsonl").read_text().splitlines():
        record = json.loads(line)
        body = record.get("body")
        if isinstance(body, dict) and (body.get("output_config") or {}).get("format"):
            headers = {k: v for k, v in record["headers"] if k.lower() not in ("content-length", "host",
                                                                                 "accept-encoding", "connection")}
            return headers, body
    raise AssertionError("no title-generation request in the interactive capture")


def message_text(content_type: str, raw: bytes) -> str:
    """The text of an Anthropic Messages reply: the `text_delta`s of an SSE stream, or the text blocks of a JSON message."""
    if content_type.startswith("text/event-stream"):
        text = ""
        for line in raw.decode().splitlines():
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
                    text += event["delta"]["text"]
        return text
    return "".join(block["text"] for block in json.loads(raw)["content"] if block["type"] == "text")


def schema_errors(value, schema: dict, where: str = "$") -> list[str]:
    """Where `value` breaks `schema`, for the JSON Schema subset structured-output requests use; [] when valid.
    A keyword outside that subset is reported too, so a new schema cannot pass unchecked."""
    known = {"type", "properties", "required", "additionalProperties", "items", "enum", "description", "title"}
    errors = [f"{where}: schema keyword {k!r} not checked here" for k in schema if k not in known]
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    if kind in ("integer", "number"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind == "number" or value == int(value))
        if not ok:
            errors.append(f"{where}: {value!r} is not of type {kind}")
    elif kind is not None and not isinstance(value, types[kind]):
        return errors + [f"{where}: {value!r} is not of type {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        errors += [f"{where}: required {k!r} missing" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            errors += [f"{where}: {k!r} is not allowed" for k in value if k not in props]
        for k, v in value.items():
            if k in props:
                errors += schema_errors(v, props[k], f"{where}.{k}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(value):
            errors += schema_errors(v, schema["items"], f"{where}[{i}]")
    return errors


def test_title_generation_request_gets_schema_valid_json(live_gateway):
    """The structured title request an interactive start sends (captured from Claude Code 2.1.197, replayed
    byte for byte with its headers): the text it streams back must be JSON valid for the request's schema."""
    headers, body = _captured_title_request()
    schema = body["output_config"]["format"]["schema"]
    request = urllib.request.Request(live_gateway.url + "/v1/messages?beta=true", data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=CLI_TIMEOUT_S) as r:
        text = message_text(r.headers.get("content-type", ""), r.read())
    title = json.loads(text)
    assert schema_errors(title, schema) == []
    assert isinstance(title["title"], str) and title["title"]


# --- interactive start under tmux ----------------------------------------------------------------------------

STARTUP_TIMEOUT_S = 60
EXIT_TIMEOUT_S = 15
TITLE_WAIT_S = 20
INTERACTIVE_KEY = "sk-ant-interlock-acceptance-0123456789abcdef"
READY_MARK = "? for shortcuts"  # the TUI's footer under an empty prompt
ANSWER_MARK = "no real model was called"  # the simulator's plain-text answer


class Tmux:
    """A private tmux server (own socket, no config file) holding one session that runs one command.

    The pane's command is a session leader (tmux calls setsid), so its pid is the process group to kill;
    `close()` kills that group if it is still there, then this server, and nothing else."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="interlock-tmux-"))  # short: unix socket paths max out at ~107 bytes
        self.socket = self.dir / "tmux.sock"
        self.env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TERM": "xterm-256color"}
        self.pane_pid: int | None = None

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, "-S", str(self.socket), "-f", "/dev/null", *args], env=self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=15, check=check)

    def start(self, cwd: Path, command: list[str]) -> None:
        self.run("new-session", "-d", "-s", "cc", "-x", "160", "-y", "50", "-c", str(cwd), *command)
        self.pane_pid = int(self.run("display-message", "-p", "-t", "cc", "#{pane_pid}").stdout.strip())

    def alive(self) -> bool:
        return self.run("has-session", "-t", "cc", check=False).returncode == 0

    def screen(self) -> str:
        done = self.run("capture-pane", "-p", "-t", "cc", check=False)
        return done.stdout if done.returncode == 0 else f"(no pane: {done.stderr.strip()})"

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "cc", "-l", text)
        self.run("send-keys", "-t", "cc", "Enter")

    def close(self) -> None:
        if self.pane_pid is not None and self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pane_pid, signal.SIGKILL)
        server = self.run("display-message", "-p", "#{pid}", check=False).stdout.strip()
        self.run("kill-server", check=False)
        pids = [pid for pid in (self.pane_pid, int(server) if server.isdigit() else None) if pid is not None]
        wait_for(lambda: all(_exited(pid) for pid in pids), EXIT_TIMEOUT_S)
        shutil.rmtree(self.dir, ignore_errors=True)


def _exited(pid: int) -> bool:
    """No such process, or only its zombie (the tmux server's children are reaped by init)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def wait_for(condition, timeout: float, step: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def ai_titles(home: Path) -> list[str]:
    """The titles Claude Code accepted: `ai-title` records in its session transcripts under HOME."""
    titles = []
    for transcript in (home / ".claude" / "projects").glob("*/*.jsonl"):
        for line in transcript.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("type") == "ai-title":
                    titles.append(record.get("aiTitle"))
    return titles


def is_title_request(body) -> bool:
    """§2.2: a Messages request with a json_schema `output_config.format` whose system prompt asks for a title."""
    if not isinstance(body, dict):
        return False
    fmt = (body.get("output_config") or {}).get("format") or {}
    system = body.get("system")
    system_text = system if isinstance(system, str) else " ".join(
        b.get("text", "") for b in system or [] if isinstance(b, dict))
    return fmt.get("type") == "json_schema" and "title" in system_text.lower()


def _json_or_none(raw: bytes | None):
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return None


def saved_flows(path: Path) -> list:
    from mitmproxy import io  # the venv's mitmproxy, the one that wrote the file

    with open(path, "rb") as f:
        return list(io.FlowReader(f).stream())


def test_interactive_start_title_request_gets_schema_valid_json(claude_bin, tmp_path):
    """Claude Code started interactively, a prompt typed: its title-generation request goes through the gateway,
    gets a 200 whose text is JSON valid for the request's schema, and Claude Code takes that title."""
    tmux_bin = shutil.which("tmux")
    if tmux_bin is None:
        pytest.skip("tmux is not installed: the interactive start needs a terminal multiplexer (apt-get install tmux)")
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    project = project.resolve()  # Claude Code keys its per-project settings by the real path
    (home / ".claude.json").write_text(json.dumps({  # reference/clients.md §2.1: no onboarding, key, trust dialogs
        "hasCompletedOnboarding": True, "lastOnboardingVersion": CLAUDE_CODE[1], "theme": "dark",
        "customApiKeyResponses": {"approved": [INTERACTIVE_KEY[-20:]], "rejected": []},
        "projects": {str(project): {"hasTrustDialogAccepted": True, "hasCompletedProjectOnboarding": True}},
    }))
    prompt = "Suggest a name for my pet parrot"
    gw_root = tmp_path / "gateway"
    gw_root.mkdir()
    with running_gateway(gw_root, save_flows=True) as gw:
        env = client_env(claude_bin, home, gw, INTERACTIVE_KEY) | {"TERM": "xterm-256color"}
        tmux = Tmux(tmux_bin)
        try:
            tmux.start(project, ["env", "-i", *(f"{k}={v}" for k, v in env.items()), str(claude_bin / "claude")])

            def report(what: str) -> str:
                return (f"{what}\n--- screen\n{tmux.screen()}\n--- titles in transcripts: {ai_titles(home)}\n"
                        f"--- gateway log\n{gw.log_tail()}")

            assert wait_for(lambda: READY_MARK in tmux.screen(), STARTUP_TIMEOUT_S), \
                report(f"no prompt within {STARTUP_TIMEOUT_S} s (a dialog in the way?)")
            tmux.type(prompt)
            assert wait_for(lambda: ANSWER_MARK in tmux.screen(), CLI_TIMEOUT_S), \
                report(f"no answer on screen within {CLI_TIMEOUT_S} s")
            # The title request goes out with the main turn; a title that is not valid JSON is dropped silently,
            # so give it a bounded while, and let the flow checks below say what was wrong.
            wait_for(lambda: ai_titles(home), TITLE_WAIT_S)
            accepted = ai_titles(home)
            tmux.type("/exit")
            wait_for(lambda: not tmux.alive(), EXIT_TIMEOUT_S)  # close() kills it otherwise
        finally:
            tmux.close()
    flows = saved_flows(gw.flows)
    title_flows = [f for f in flows if f.request.path.split("?")[0] == "/v1/messages"
                   and is_title_request(_json_or_none(f.request.content))]
    seen = [f"{f.request.method} {f.request.path} → {f.response.status_code if f.response else f.error}" for f in flows]
    assert title_flows, f"no title-generation request reached the gateway; it saw {seen}"
    for flow in title_flows:
        body = json.loads(flow.request.content)
        assert "(external, cli)" in flow.request.headers.get("user-agent", ""), "not the interactive client"
        assert flow.response is not None and flow.response.status_code == 200, (seen, flow.error)
        raw = flow.response.content
        assert raw, "the saved flow has no response body (the gateway sets store_streamed_bodies)"
        text = message_text(flow.response.headers.get("content-type", ""), raw)
        title = json.loads(text)
        assert schema_errors(title, body["output_config"]["format"]["schema"]) == [], text
        assert isinstance(title["title"], str) and title["title"].strip(), text
        # …and the client took it: the title it recorded is the one the gateway sent.
        assert title["title"] in accepted, (title, accepted)

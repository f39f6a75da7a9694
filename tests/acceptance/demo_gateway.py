"""The gateway as the acceptance tests run it: the way a user starts it, in demo mode.

`mitmdump -s addon/gateway.py … --set interlock_demo=true` as a subprocess in its own process group,
on a free port, ready once `/healthz` answers; the built-in simulator answers, no network is needed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clients import REPO, node_bin_dir

UPSTREAM = "https://generativelanguage.googleapis.com"
HEALTH_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Gateway:
    url: str
    log: Path
    flows: Path | None = None  # `mitmdump -w` file, complete once the gateway has stopped

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass
class CliRun:
    """One finished CLI run, with everything a failure message needs."""

    out: dict | None
    stdout: str
    stderr: str
    returncode: int | None
    seconds: float = 0.0

    def report(self, gw: Gateway) -> str:
        return (f"exit {self.returncode} after {self.seconds:.1f} s\n--- stdout\n{self.stdout[-6000:]}\n"
                f"--- stderr\n{self.stderr[-4000:]}\n--- gateway log\n{gw.log_tail()}")


def run_cli(cmd: list[str], cwd: Path, env: dict[str, str], timeout_s: float) -> tuple[str, str, int | None, float]:
    """Run a client CLI to the end in its own process group (they spawn children); on a timeout
    kill the whole group. Returns stdout, stderr, exit code and seconds taken."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        stderr += f"\n[acceptance] killed after {timeout_s} s"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # leftovers of its process group, if any
        except ProcessLookupError:
            pass
    return stdout, stderr, proc.returncode, time.monotonic() - started


def client_path(bin_dir: Path) -> str:
    """PATH for a client run under `env -i`: its own bin, node's, and the system's."""
    path = [str(bin_dir)] + ([str(node_bin_dir())] if node_bin_dir() else []) + ["/usr/bin", "/bin"]
    return os.pathsep.join(dict.fromkeys(path))


@contextlib.contextmanager
def running_gateway(root: Path, save_flows: bool = False, config_toml: str | None = None, *,
                    home: Path | None = None, upstream: str = UPSTREAM, demo: bool = True) -> Iterator[Gateway]:
    """Start the gateway under `root` (data directory `home`, default `root/interlock-home`, with
    `config_toml` as its settings if given); stop it with SIGTERM (mitmdump then closes its -w file)."""
    home = home or root / "interlock-home"
    if config_toml is not None:
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(config_toml)
    port = free_port()
    log = root / "mitmdump.log"
    flows = root / "flows.mitm" if save_flows else None
    cmd = [str(REPO / ".venv" / "bin" / "mitmdump"), "-q", "-s", str(REPO / "addon" / "gateway.py"),
           "--mode", f"reverse:{upstream}@127.0.0.1:{port}", "--set", f"interlock_home={home}"]
    if demo:
        cmd += ["--set", "interlock_demo=true"]
    if flows is not None:
        cmd += ["-w", str(flows)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=root,
                                start_new_session=True)
    gw = Gateway(f"http://127.0.0.1:{port}", log, flows)
    try:
        started = time.monotonic()
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gateway exited with {proc.returncode} during start-up\n{gw.log_tail()}")
            try:
                with urllib.request.urlopen(gw.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - started > HEALTH_TIMEOUT_S:
                pytest.fail(f"gateway: no 200 from /healthz within {HEALTH_TIMEOUT_S} s\n{gw.log_tail()}")
            time.sleep(0.2)
        yield gw
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

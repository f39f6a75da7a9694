"""Pinned client CLIs from the npm registry, installed once per checkout into `<repo>/.cache/clients/<name>`.

    bin_dir = ensure_npm_client("@google/gemini-cli", "0.61.0")   # → …/.cache/clients/gemini-cli/node_modules/.bin
    subprocess.run([bin_dir / "gemini", …])

The first call runs `npm install --prefix <tmp> --no-audit --no-fund <package>@<version>` into a
sibling temporary directory and renames it into place only when npm succeeded, so an interrupted
install never looks installed. A marker file records `<package>@<version>`; a later call with the
same pin returns at once, a different pin reinstalls. An `fcntl` lock per client serialises
parallel test runs (xdist workers, two checkouts sharing nothing but this directory).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "clients"
MARKER = ".interlock-client"
INSTALL_TIMEOUT_S = 900

# Seconds the last real install of each client took (absent when it was already installed).
install_seconds: dict[str, float] = {}


class ClientInstallError(RuntimeError):
    """npm is missing or `npm install` failed; the message says what to do."""


def client_name(package: str) -> str:
    """`@google/gemini-cli` → `gemini-cli`, `@openai/codex` → `codex`."""
    return package.rsplit("/", 1)[-1]


def node_bin_dir() -> Path | None:
    """The directory holding `node`, to put on a client's PATH next to its own bin directory."""
    node = shutil.which("node")
    return Path(node).resolve().parent if node else None


def _installed(root: Path, package: str, version: str) -> bool:
    marker = root / MARKER
    if not marker.is_file() or marker.read_text().strip() != f"{package}@{version}":
        return False
    try:
        meta = json.loads((root / "node_modules" / package / "package.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("version") == version and (root / "node_modules" / ".bin").is_dir()


def ensure_npm_client(package: str, version: str, name: str | None = None) -> Path:
    """Install `package@version` (exact pin) unless already there; return its `node_modules/.bin`."""
    name = name or client_name(package)
    root = CACHE / name
    if _installed(root, package, version):
        return root / "node_modules" / ".bin"
    npm = shutil.which("npm")
    if npm is None:
        raise ClientInstallError(
            f"npm not found on PATH: the acceptance tests install {package}@{version} from the npm registry "
            "and need Node.js 20+ with npm (e.g. `apt-get install nodejs npm`), "
            "or deselect them with `-m 'not acceptance'`")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a parallel run installing the same client: wait for it
        if _installed(root, package, version):
            return root / "node_modules" / ".bin"
        for stale in CACHE.glob(f".{name}.installing-*"):  # left by a run killed mid-install
            shutil.rmtree(stale, ignore_errors=True)
        staging = CACHE / f".{name}.installing-{os.getpid()}"
        staging.mkdir()
        cmd = [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", "--save-exact", "--no-update-notifier",
               "--loglevel=error", f"{package}@{version}"]
        started = time.monotonic()
        try:
            done = subprocess.run(cmd, cwd=staging, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            shutil.rmtree(staging, ignore_errors=True)
            raise ClientInstallError(f"`{' '.join(cmd)}` did not finish in {INSTALL_TIMEOUT_S} s") from None
        elapsed = time.monotonic() - started
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise ClientInstallError(
                f"`{' '.join(cmd)}` failed (exit {done.returncode}):\n{done.stderr[-4000:] or done.stdout[-4000:]}")
        if not (staging / "node_modules" / package / "package.json").is_file():
            shutil.rmtree(staging, ignore_errors=True)
            raise ClientInstallError(f"npm reported success but {package} is not in {staging / 'node_modules'}")
        (staging / MARKER).write_text(f"{package}@{version}\n")
        shutil.rmtree(root, ignore_errors=True)
        staging.rename(root)
        install_seconds[name] = elapsed
        print(f"[acceptance] installed {package}@{version} into {root} in {elapsed:.1f} s", file=sys.stderr)
    return root / "node_modules" / ".bin"


if __name__ == "__main__":  # python tests/acceptance/clients.py @google/gemini-cli 0.61.0
    t0 = time.monotonic()
    print(ensure_npm_client(sys.argv[1], sys.argv[2]), f"{time.monotonic() - t0:.1f} s")

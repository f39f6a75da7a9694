"""The `interlock` command: `run` the gateway (mitmweb or mitmdump) from the settings, or run the
`simulator` alone.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from addon import config, security
from addon.pool.accounts import load_dir

GATEWAY_SCRIPT = Path(__file__).resolve().parent / "gateway.py"


def _tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise SystemExit(f"interlock: {name} not found; is mitmproxy installed in this environment?")
    return found


def build_command(settings: config.Settings, home: Path, *, monitor: bool, demo: bool,
                  web_password: str) -> list[str]:
    """The mitmweb/mitmdump command line `interlock run` starts.

    mitmweb gets an argon2 hash of `web_password`, so the password is not in the process list."""
    tool = "mitmweb" if monitor else "mitmdump"
    cmd = [_tool(tool), "-s", str(GATEWAY_SCRIPT),
           "--mode", f"reverse:{settings.gemini_base_url}@{settings.bind_host}:{settings.port}",
           "--set", f"interlock_home={home}", "--set", "connection_strategy=lazy"]
    if demo:
        cmd += ["--set", "interlock_demo=true"]
    if monitor:
        import argon2

        cmd += ["--set", "web_open_browser=false", "--set", f"web_port={settings.web_port}",
                "--set", "web_host=127.0.0.1", "--set", f"web_password={argon2.PasswordHasher().hash(web_password)}"]
    return cmd


def banner(settings: config.Settings, home: Path, accounts: int, demo: bool, monitor_url: str | None) -> Panel:
    host = "127.0.0.1" if settings.bind_host in ("0.0.0.0", "127.0.0.1") else settings.bind_host
    base = f"http://{host}:{settings.port}"
    mode = settings.effective_auth_mode
    key = "any-key" if mode == "off" else f"<api_key from {home / 'config.toml'}>"
    facts = Table.grid(padding=(0, 2))
    facts.add_row("listening", f"{base}" + ("  (LAN: 0.0.0.0)" if settings.allow_lan_access else ""))
    facts.add_row("auth", f"{mode}   key {config.key_hint(settings.api_key)}")
    facts.add_row("accounts", "DEMO MODE: built-in simulator, no real model" if demo else str(accounts))
    facts.add_row("monitor", monitor_url or "off (mitmdump prints each flow)")
    facts.add_row("settings", str(home / "config.toml"))
    clients = Table.grid(padding=(0, 2))
    clients.add_row("Claude Code", f"ANTHROPIC_BASE_URL={base} ANTHROPIC_API_KEY={key} claude")
    clients.add_row("Codex CLI", f'~/.codex/config.toml: [model_providers.interlock] base_url = "{base}/v1"')
    clients.add_row("Gemini CLI", f"GOOGLE_GEMINI_BASE_URL={base} GEMINI_API_KEY={key} gemini  "
                    '(settings.json: security.auth.selectedType = "gemini-api-key")')
    clients.add_row("openai", f'OpenAI(base_url="{base}/v1", api_key="{key}")')
    clients.add_row("anthropic", f'Anthropic(base_url="{base}", api_key="{key}")')
    clients.add_row("google-genai", f'genai.Client(api_key="{key}", http_options={{"base_url": "{base}"}})')
    clients.add_row("curl", f"curl {base}/healthz")
    body = Table.grid()
    body.add_row(facts)
    body.add_row("")
    body.add_row(clients)
    title = "interlock" + (" — demo mode" if demo else "")
    return Panel(body, title=title, border_style="yellow" if demo else "green")


def cmd_run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    home = config.home_dir(args.home)
    try:
        settings = config.load(home)
        overrides = {k: v for k, v in (("port", args.port), ("host", args.host)) if v is not None}
        if overrides:
            settings = config.validate({**settings.model_dump(), **overrides}, home / "config.toml")
        listen = settings.bind_host
        for warning in security.check_startup(settings.effective_auth_mode, settings.api_key, [listen],
                                              settings.allow_lan_access, settings.allow_insecure_lan):
            console.print(f"[bold red]{warning}[/]")
    except (config.SettingsError, security.StartupRefused) as e:
        console.print(f"[bold red]interlock: {e}[/]")
        return 2
    accounts, problems = load_dir(home / "accounts")
    for problem in problems:
        console.print(f"[yellow]accounts: {problem}[/]")
    demo = args.demo or not accounts
    monitor = settings.monitor if args.monitor is None else args.monitor
    web_password = secrets.token_hex(16)
    monitor_url = f"http://127.0.0.1:{settings.web_port}/?token={web_password}" if monitor else None
    cmd = build_command(settings, home, monitor=monitor, demo=demo, web_password=web_password)
    console.print(banner(settings, home, len(accounts), demo, monitor_url))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
    return 0  # not reached


def cmd_simulator(args: argparse.Namespace) -> int:
    from addon.simulator import main as simulator_main

    argv = ["--port", str(args.port), "--host", args.host]
    return simulator_main(argv) or 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="interlock", description="Local AI gateway (mitmproxy addon).")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the gateway (mitmweb by default)")
    run.add_argument("--port", type=int, help=f"listen port (default: settings, {config.DEFAULT_PORT})")
    run.add_argument("--host", help="listen address (default: settings, 127.0.0.1)")
    run.add_argument("--home", help="data directory (default: $INTERLOCK_HOME or ~/.interlock)")
    run.add_argument("--monitor", action=argparse.BooleanOptionalAction, default=None,
                     help="mitmweb (--monitor) or mitmdump (--no-monitor); default: settings")
    run.add_argument("--demo", action="store_true", help="serve from the built-in simulator")
    run.set_defaults(func=cmd_run)
    sim = sub.add_parser("simulator", help="run the upstream simulator alone")
    sim.add_argument("--port", type=int, default=8046)
    sim.add_argument("--host", default="127.0.0.1")
    sim.set_defaults(func=cmd_simulator)
    from addon.accounts_cli import add_parser as add_accounts_parser

    add_accounts_parser(sub)
    from addon import stats_cli  # `interlock stats` lives in its own module

    stats_cli.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())

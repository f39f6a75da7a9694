"""`interlock accounts login` and `interlock accounts warmup`: the Google-account commands.

Both run in this process against the same settings and account files as the gateway, so they
work whether or not a gateway is running; a running gateway sees the new or changed account
file within a second.
"""

from __future__ import annotations

import argparse
import asyncio
import webbrowser

from rich.console import Console
from rich.table import Table

from addon import config
from addon.pool.accounts import mask
from addon.pool.login import LoginError, in_daemon_thread, login
from addon.pool.scheduler import Pool
from addon.pool.store import AccountStore, OAuthFile
from addon.upstream import warmup as warming


def _read_line(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError:
        return ""


def cmd_login(args: argparse.Namespace, out: Console) -> int:
    home = config.home_dir(args.home)
    settings = config.load(home)
    name, client = settings.login_client(args.client)
    opener = None if args.no_browser else webbrowser.open

    def say(text: str) -> None:
        out.print(text, soft_wrap=True, markup=False, highlight=False)  # URLs must stay copyable

    async def ask(prompt: str) -> str:
        return await in_daemon_thread(_read_line, prompt)

    try:
        tokens = asyncio.run(login(settings, client, say=say, open_browser=opener, ask=ask,
                                   login_hint=args.login_hint, timeout_s=args.timeout))
    except LoginError as e:
        Console(stderr=True).print(f"[red]interlock accounts login: {e}[/]")
        return 1
    store = AccountStore(home / "accounts")
    same = [i for i, e in store.entries() if isinstance(e, OAuthFile) and tokens.email and e.email == tokens.email]
    changes = dict(refresh_token=tokens.refresh_token, access_token=tokens.access_token,
                   expires_at=tokens.expires_at, client=name, client_id=None, enabled=True, disabled_reason=None)
    if same:
        store.update(same[0], **changes)
        out.print(f"signed in again as {tokens.email}: account [bold]{same[0]}[/] now uses the new token "
                  f"({mask(tokens.refresh_token)}, client {name})")
        return 0
    entry = OAuthFile(kind="google_oauth", refresh_token=tokens.refresh_token, access_token=tokens.access_token,
                      expires_at=tokens.expires_at, email=tokens.email, label=args.label or tokens.email,
                      client=name, source="login")
    account_id = store.create(entry)
    out.print(f"added {tokens.email or 'the Google account'} ({mask(tokens.refresh_token)}, client {name}) "
              f"as [bold]{account_id}[/]")
    return 0


def cmd_warmup(args: argparse.Namespace, out: Console) -> int:
    if not args.all and not args.account:
        Console(stderr=True).print("[red]interlock accounts warmup: name an account or pass --all[/]")
        return 2
    home = config.home_dir(args.home)
    settings = config.load(home)
    results = asyncio.run(_warm(settings, home, None if args.all else args.account, args.model))
    if not results:
        Console(stderr=True).print("[red]interlock accounts warmup: no enabled Google account"
                                   + (f" called {args.account!r}" if args.account and not args.all else "") + "[/]")
        return 1
    table = Table(title="warmup")
    for col in ("account", "model", "status", "message"):
        table.add_column(col)
    for r in results:
        status = "[green]200[/]" if r.ok else f"[red]{r.status or 'error'}[/]"
        table.add_row(r.account, r.model, status, r.message)
    out.print(table)
    return 0 if all(r.ok for r in results) else 1


async def _warm(settings: config.Settings, home, name: str | None, model: str | None) -> list[warming.WarmResult]:
    from addon.pool.state import STATE_FILE, StateFile
    from addon.runtime import serves_gemini_api, token_manager
    from addon.upstream.google import GoogleServices

    store = AccountStore(home / "accounts")
    pool = Pool(state=StateFile(home / STATE_FILE), source=store, serves=serves_gemini_api)
    tokens = token_manager(settings, pool, store)
    google = GoogleServices.build(settings, pool, store, tokens)
    try:
        return await warming.warm_all(google, warming.pick(pool.accounts, name), model)
    finally:
        await google.aclose()
        await tokens.aclose()
        pool.flush()


def add_parsers(acts: argparse._SubParsersAction) -> None:
    log = acts.add_parser("login", help="add a Google account by signing in with a browser (OAuth, PKCE)")
    log.add_argument("--client", help="OAuth client name from the settings' oauth_clients (default: oauth_client)")
    log.add_argument("--no-browser", action="store_true",
                     help="print the address instead of opening a browser, and read the pasted answer")
    log.add_argument("--label")
    log.add_argument("--login-hint", help="the e-mail to sign in with (pre-selects it on Google's page)")
    log.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the sign-in")
    log.set_defaults(run=cmd_login)
    warm = acts.add_parser("warmup", help="start Google accounts' quota windows with one tiny request per family")
    warm.add_argument("account", nargs="?", help="id, label or e-mail of one account")
    warm.add_argument("--all", action="store_true", help="every enabled Google account")
    warm.add_argument("--model", help="warm only this model")
    warm.set_defaults(run=cmd_warmup)


__all__ = ["add_parsers", "cmd_login", "cmd_warmup"]

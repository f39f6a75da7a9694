"""`interlock accounts …`: list, add, import, enable, disable, remove, why (login and warmup:
accounts_google.py).

Everything goes through the account files and the pool's state file, so a running gateway picks
the change up within a second, and `why` explains with the same scheduler the gateway uses.
Secrets are printed masked, always.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from addon import config
from addon.pool import importers
from addon.pool.accounts import Account, family, mask
from addon.pool.scheduler import Pool
from addon.pool.state import STATE_FILE, StateFile
from addon.pool.store import AccountStore, AnthropicKeyFile, GeminiKeyFile, OAuthFile, StoreError


def _paths(args: argparse.Namespace) -> tuple[AccountStore, StateFile]:
    home = config.home_dir(args.home)
    return AccountStore(home / "accounts"), StateFile(home / STATE_FILE)


def _pool(args: argparse.Namespace) -> Pool:
    from addon.runtime import serves_gemini_api
    from addon.upstream.anthropic_dispatch import serves

    store, state = _paths(args)
    return Pool(state=state, source=store, serves=serves(_dispatch_mode(args), serves_gemini_api),
                flush_every_s=float("inf"))


def _dispatch_mode(args: argparse.Namespace) -> str:
    """The `anthropic.dispatch` setting, so `list` and `why` judge Anthropic accounts as the gateway does."""
    path = config.home_dir(args.home) / "config.toml"
    try:
        return config.load(path.parent).anthropic.dispatch if path.exists() else "off"
    except config.SettingsError:
        return "off"


def _resolve(store: AccountStore, name: str) -> str:
    """An account id from an id or a label."""
    ids = []
    for account_id, entry in store.entries():
        if name in (account_id, entry.label, entry.email):
            ids.append(account_id)
    if len(ids) == 1:
        return ids[0]
    raise StoreError(f"no account called {name!r}" if not ids else f"{name!r} matches {', '.join(ids)}; use the id")


def _left(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _bar(fraction: float, width: int = 10) -> str:
    full = round(max(0.0, min(1.0, fraction)) * width)
    colour = "green" if fraction >= 0.5 else "yellow" if fraction >= 0.2 else "red"
    return f"[{colour}]{'█' * full}[/][dim]{'░' * (width - full)}[/] {round(fraction * 100):>3}%"


def _quota_cell(account: Account) -> str:
    families: dict[str, float] = {}
    for q in account.quota:
        f = family(q.model)
        families[f] = min(families.get(f, 1.0), q.remaining)
    return "\n".join(f"{f:<13}{_bar(v)}" for f, v in sorted(families.items())) or "[dim]unknown[/]"


def cmd_list(args: argparse.Namespace, out: Console) -> int:
    pool = _pool(args)
    for problem in pool.problems:
        out.print(f"[yellow]{problem}[/]")
    if not pool.accounts:
        out.print("no accounts yet: interlock accounts add --api-key KEY")
        return 0
    table = Table(title=f"accounts in {config.home_dir(args.home) / 'accounts'}")
    for col in ("id", "kind", "label / email", "state", "quota", "cooldown", "last used", "today"):
        table.add_column(col)
    now = time.time()
    for a in pool.accounts:
        cooling = pool.cooldowns(a)
        if not a.enabled:
            state = "[red]disabled[/]" + (f"\n[dim]{a.disabled_reason}[/]" if a.disabled_reason else "")
        elif cooling.get(None):
            state = "[yellow]cooling[/]"
        else:
            state = "[green]ready[/]"
        cooldown = "\n".join(f"{m or 'all models'}: {_left(cd.until - now)}" for m, cd in sorted(
            cooling.items(), key=lambda kv: kv[0] or "")) or "-"
        last, today = pool.usage(a)
        label = a.label if not a.email or a.email == a.label else f"{a.label}\n[dim]{a.email}[/]"
        if a.project_id:
            label += f"\n[dim]{a.project_id}" + (f" ({a.tier})" if a.tier else "") + "[/]"
        table.add_row(a.id, f"{a.kind}\n[dim]{a.masked}[/]", label, state, _quota_cell(a), cooldown,
                      f"{_left(now - last)} ago" if last else "never", str(today))
    out.print(table)
    return 0


def cmd_add(args: argparse.Namespace, out: Console) -> int:
    store, _ = _paths(args)
    common = dict(label=args.label, weight=args.weight, max_concurrent=args.max_concurrent,
                  models=args.models or [], base_url=args.base_url)
    common = {k: v for k, v in common.items() if v is not None}
    if args.api_key:
        kind = AnthropicKeyFile if args.anthropic else GeminiKeyFile
        entry = kind(kind="anthropic_key" if args.anthropic else "gemini_api_key", api_key=args.api_key, **common)
        secret = args.api_key
    else:
        entry = OAuthFile(kind="google_oauth", refresh_token=args.refresh_token, client_id=args.client_id,
                          client=args.client, **common)
        secret = args.refresh_token
    account_id = store.create(entry)
    out.print(f"added {entry.kind} {mask(secret)} as [bold]{account_id}[/]")
    return 0


def cmd_import(args: argparse.Namespace, out: Console) -> int:
    store, _ = _paths(args)
    added = 0
    for path in args.paths:
        try:
            entries, notes = importers.read(Path(path))
        except importers.ImportProblem as e:
            out.print(f"[red]{e}[/]")
            continue
        for note in notes:
            out.print(f"[yellow]skipped {note}[/]")
        for entry in entries:
            try:
                account_id = store.create(entry)
            except StoreError as e:
                out.print(f"[yellow]skipped {entry.label or mask(entry.refresh_token)}: {e}[/]")
                continue
            added += 1
            out.print(f"imported {entry.label or mask(entry.refresh_token)} ({entry.source}) as [bold]{account_id}[/]")
    out.print(f"{added} account(s) imported")
    return 0 if added or not args.paths else 1


def cmd_enable(args: argparse.Namespace, out: Console) -> int:
    store, _ = _paths(args)
    account_id = _resolve(store, args.account)
    if args.command_name == "enable":
        store.update(account_id, enabled=True, disabled_reason=None)
    else:
        store.update(account_id, enabled=False, disabled_reason=args.reason or "disabled by hand")
    out.print(f"{account_id}: {args.command_name}d")
    return 0


def cmd_remove(args: argparse.Namespace, out: Console) -> int:
    store, _ = _paths(args)
    account_id = _resolve(store, args.account)
    store.remove(account_id)
    out.print(f"{account_id}: removed")
    return 0


def cmd_why(args: argparse.Namespace, out: Console) -> int:
    pool = _pool(args)
    table = Table(title=f"next request for {args.model}" + (f" (session {args.session})" if args.session else ""))
    for col in ("rank", "id", "label", "verdict"):
        table.add_column(col)
    from addon.pool.sessions import session_key

    session = session_key({"x-interlock-session": args.session}, {}) if args.session else None
    for v in pool.explain(args.model, session):
        table.add_row(str(v.rank) if v.eligible else "-", v.account.id, v.account.label,
                      v.reason if v.eligible else f"[yellow]skipped:[/] {v.reason}")
    out.print(table)
    verdicts = pool.explain(args.model, session)
    if verdicts and verdicts[0].eligible:
        out.print(f"→ {verdicts[0].account.id} would serve it")
    else:
        out.print("[red]→ no account can serve it now[/]")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("accounts", help="list, add, import, enable/disable, remove accounts; explain choices")
    p.add_argument("--home", help="data directory (default: $INTERLOCK_HOME or ~/.interlock)")
    acts = p.add_subparsers(dest="accounts_command", required=True)
    acts.add_parser("list", help="accounts with state, quota, cooldowns and usage").set_defaults(run=cmd_list)
    add = acts.add_parser("add", help="add an API key or a Google refresh token")
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--api-key", help="a Gemini API key (or, with --anthropic, an Anthropic-compatible key)")
    what.add_argument("--refresh-token", help="a Google OAuth refresh token")
    add.add_argument("--client-id", help="OAuth client id the refresh token belongs to (default: settings)")
    add.add_argument("--client", help="name of that OAuth client in the settings' oauth_clients")
    add.add_argument("--anthropic", action="store_true", help="the key is for an Anthropic-compatible upstream")
    add.add_argument("--base-url", help="upstream base URL for this account")
    add.add_argument("--label")
    add.add_argument("--weight", type=float, help="share of the traffic relative to others (default 1)")
    add.add_argument("--max-concurrent", type=int, help="requests in flight at most")
    add.add_argument("--models", nargs="+", help="only these models (wildcards allowed)")
    add.set_defaults(run=cmd_add)
    imp = acts.add_parser("import", help="Antigravity Tools account files / accounts.json, Gemini CLI oauth_creds.json")
    imp.add_argument("paths", nargs="+")
    imp.set_defaults(run=cmd_import)
    for name in ("enable", "disable"):
        sp = acts.add_parser(name, help=f"{name} an account (id or label)")
        sp.add_argument("account")
        if name == "disable":
            sp.add_argument("--reason")
        sp.set_defaults(run=cmd_enable, command_name=name)
    rm = acts.add_parser("remove", help="delete an account file")
    rm.add_argument("account")
    rm.set_defaults(run=cmd_remove)
    why = acts.add_parser("why", help="which account the next request for MODEL gets, and why not the others")
    why.add_argument("model")
    why.add_argument("--session", help="as if the request carried x-interlock-session: SESSION")
    why.set_defaults(run=cmd_why)
    from addon.accounts_google import add_parsers as add_google_parsers

    add_google_parsers(acts)  # login, warmup
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    out = Console()
    try:
        return args.run(args, out)
    except (StoreError, importers.ImportProblem, config.SettingsError) as e:
        Console(stderr=True).print(f"[red]interlock accounts: {e}[/]")
        return 1
    except Exception as e:  # noqa: BLE001 - pydantic errors on bad input, without echoing secrets
        if type(e).__name__ == "ValidationError":
            Console(stderr=True).print(f"[red]interlock accounts: invalid input: "
                                       f"{', '.join(str(x['loc'][-1]) for x in e.errors())}[/]")
            return 2
        raise

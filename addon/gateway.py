"""interlock as a mitmproxy addon: `mitmdump -s addon/gateway.py --mode reverse:<upstream>@127.0.0.1:8045`.

Hooks only. Each request is answered by `exchange.handle`; a whole answer is set on the flow
(`Response.make`), a stream is parked in the bridge and the flow re-pointed at it.
"""

from __future__ import annotations

import logging
import sys
import typing
from pathlib import Path
from urllib.parse import parse_qsl

try:
    import addon  # noqa: F401
except ImportError:  # loaded by path (`-s addon/gateway.py`) from an environment without interlock installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mitmproxy import exceptions, http
from mitmproxy.proxy.mode_specs import ProxyMode, ReverseMode

from addon import config, exchange, monitor, record, security, stats
from addon.endpoints import ENDPOINTS
from addon.runtime import Runtime
from addon.upstream.bridge import PARK_HEADER, Parked

# Settings a `--set name=value` may override; each maps onto the same key of config.toml.
OPTIONS: list[tuple[str, type, typing.Any, str]] = [
    ("auth_mode", str, "auto", "off | strict | all_except_health | auto"),
    ("api_key", str, "", "key clients must send when auth is on (default: config.toml's)"),
    ("allow_lan_access", bool, False, "accept connections from other machines"),
    ("allow_insecure_lan", bool, False, "permit LAN access with auth off"),
    ("max_attempts", int, 3, "upstream attempts per request"),
    ("first_byte_timeout_s", float, 300.0, "seconds to wait for an upstream's first byte"),
    ("upstream_timeout_s", float, 600.0, "seconds one upstream request may take in all"),
    ("keepalive_interval_s", float, 15.0, "seconds of upstream silence before a keep-alive"),
    ("gemini_base_url", str, config.GEMINI_API_BASE, "Gemini API base URL (default: the reverse target)"),
]
_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "DELETE", "PUT", "PATCH"})


log = logging.getLogger("interlock")


def _reverse_target(options) -> str | None:
    for spec in options.mode:
        mode = ProxyMode.parse(spec)
        if isinstance(mode, ReverseMode):
            scheme = "https" if mode.scheme in ("https", "http3", "tls") else "http"
            host, port = mode.address
            default = 443 if scheme == "https" else 80
            return f"{scheme}://{host}" + ("" if port == default else f":{port}")
    return None


def _listen_hosts(options) -> list[str]:
    return [ProxyMode.parse(spec).listen_host(options.listen_host) for spec in options.mode]


class Gateway:
    def __init__(self) -> None:
        self.runtime: Runtime | None = None
        self.options = None
        self.stats: stats.StatsWriter | None = None
        self.monitor = monitor.Monitor()
        self.addons = [self.monitor]  # nested addons get every hook after the gateway

    def load(self, loader) -> None:
        self.options = loader.master.options  # not `ctx.options`: tests run several masters at once
        loader.add_option("interlock_home", str, "", "interlock data directory (default $INTERLOCK_HOME or ~/.interlock)")
        loader.add_option("interlock_demo", bool, False, "serve from the built-in simulator with demo accounts")
        for name, kind, default, help_text in OPTIONS:
            loader.add_option(name, kind, default, help_text)

    def configure(self, updated: set[str]) -> None:
        opts = self.options
        if self.runtime is not None and self.runtime.started:
            if updated & ({n for n, *_ in OPTIONS} | {"interlock_home", "interlock_demo"}):
                log.warning("interlock: settings changed while running take effect after a restart")
            return
        home = config.home_dir(opts.interlock_home or None)
        try:
            data = config.load(home).model_dump()
            for name, *_ in OPTIONS:
                if opts.has_changed(name):
                    data[name] = getattr(opts, name)
            settings = config.validate(data, home / "config.toml")
            for warning in security.check_startup(settings.effective_auth_mode, settings.api_key,
                                                  _listen_hosts(opts), settings.allow_lan_access,
                                                  settings.allow_insecure_lan):
                log.warning(warning)
        except (config.SettingsError, security.StartupRefused) as e:
            raise exceptions.OptionsError(f"interlock: {e}") from None
        base_url = settings.gemini_base_url
        if not opts.has_changed("gemini_base_url") and base_url == config.GEMINI_API_BASE:
            base_url = _reverse_target(opts) or base_url
        self.runtime = Runtime(settings, home, base_url, demo=opts.interlock_demo,
                               verify_tls=not opts.ssl_insecure)

    async def running(self) -> None:
        longest = self.runtime.settings.upstream_timeout_s if self.runtime else 600
        self.options.update(connection_strategy="lazy", store_streamed_bodies=True,
                            tcp_timeout=max(self.options.tcp_timeout, int(longest) + 60))
        logging.getLogger("httpx").setLevel(logging.WARNING)
        if self.runtime is not None:
            if self.stats is None:
                self.stats = stats.StatsWriter(self.runtime.home / stats.FILENAME)
            await self.runtime.start()
            for problem in self.runtime.account_problems:
                log.warning(f"interlock: {problem}")

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or "interlock_park" in flow.metadata or self.runtime is None \
                or monitor.attempt_flows.MARK in flow.metadata:
            return
        svc = await self.runtime.start()
        req = flow.request
        path, _, query = req.path.partition("?")
        if req.method not in _METHODS or not path.startswith("/"):
            flow.response = http.Response.make(400, b'{"error":{"message":"unsupported request"}}',
                                               {"content-type": "application/json"})
            return
        client = exchange.ClientRequest(
            req.method, path, dict(parse_qsl(query, keep_blank_values=True)), req.headers, req.raw_content or b"",
            gone=lambda: flow.client_conn.timestamp_end is not None)
        rec = record.ExchangeRecord(req.method, path)
        record.describe(rec, client)
        rec.listeners += [monitor.log_exchange] + ([self.stats.record] if self.stats else [])
        self.monitor.track(flow, rec)
        context = record.begin(rec)
        try:
            answer = await exchange.handle(svc, client, ENDPOINTS)
        finally:
            record.end(context)
        self.monitor.answered(flow, answer, rec, svc.demo)
        if answer.stream is None:
            flow.response = http.Response.make(answer.status, answer.body, answer.headers)
            rec.first_byte()
            rec.finish("ok" if answer.status < 400 else "error")
            return
        monitor.keep_client_view(flow)
        token = self.runtime.bridge.park(Parked(answer.status, list(answer.headers.items()),
                                                record.observe(answer.stream, rec)))
        flow.metadata["interlock_park"] = token
        req.scheme, req.host, req.port = "http", "127.0.0.1", self.runtime.bridge.port
        req.headers[PARK_HEADER] = token
        req.headers.pop("content-length", None)
        req.content = b""

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if "interlock_park" in flow.metadata and flow.response is not None:
            flow.response.stream = True
            monitor.restore_client_view(flow)

    async def error(self, flow: http.HTTPFlow) -> None:
        if monitor.attempt_flows.MARK in flow.metadata:
            return
        if self.runtime is not None:
            await self.runtime.bridge.discard(flow.metadata.get("interlock_park"))
        monitor.restore_client_view(flow)

    async def done(self) -> None:
        if self.runtime is not None:
            await self.runtime.close()
        if self.stats is not None:
            self.stats.close()


addons = [Gateway()]

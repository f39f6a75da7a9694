"""Settings: `$INTERLOCK_HOME/config.toml`, validated by pydantic, overridden by mitmproxy options.

The file is created on first start with a generated API key, so a newcomer never has to write
one. Every key a user can set lives in `Settings`, with its default and its meaning.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

AuthMode = Literal["off", "strict", "all_except_health", "auto"]

DEFAULT_PORT = 8045
GEMINI_API_BASE = "https://generativelanguage.googleapis.com"
CLOUDCODE_BASE_URLS = ("https://daily-cloudcode-pa.sandbox.googleapis.com/v1internal",
                       "https://daily-cloudcode-pa.googleapis.com/v1internal",
                       "https://cloudcode-pa.googleapis.com/v1internal")
OAUTH_SCOPES = ("openid", "https://www.googleapis.com/auth/cloud-platform",
                "https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/userinfo.profile",
                "https://www.googleapis.com/auth/cclog", "https://www.googleapis.com/auth/experimentsandconfigs")


class SettingsError(Exception):
    """A setting is wrong; the message names the key and the file."""


class OAuthClient(BaseModel):
    """An OAuth client registered with Google; interlock ships none, the user names their own."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(min_length=1)
    client_secret: str = ""


ANTHROPIC_BASE = "https://api.z.ai/api/anthropic"
MCP_SERVERS = ("web_search_prime", "web_reader", "zai-mcp-server")
DispatchMode = Literal["off", "exclusive", "pooled", "fallback"]


def _http_url(v: str) -> str:
    if not v.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return v.rstrip("/")


class AnthropicUpstream(BaseModel):
    """`[anthropic]`: Anthropic-compatible accounts (kind `anthropic_key`, e.g. z.ai) and when they serve."""

    model_config = ConfigDict(extra="forbid")

    dispatch: DispatchMode = Field("off", description="off | exclusive (all Anthropic clients) | pooled (joins "
                                   "the rotation) | fallback (when the Google pool cannot serve)")
    base_url: str = Field(ANTHROPIC_BASE, description="for accounts without their own base_url")
    model_mapping: dict[str, str] = Field(default_factory=dict, description="client model → upstream model; '*' wildcards")
    opus: str = Field("glm-4.7", min_length=1, description="upstream model for other claude-*opus* names")
    sonnet: str = Field("glm-4.7", min_length=1, description="for other claude names, and for non-Anthropic clients")
    haiku: str = Field("glm-4.5-air", min_length=1, description="for other claude-*haiku* names")

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _http_url(v)


class McpSettings(BaseModel):
    """`[mcp]`: the MCP servers `/mcp/{server}/mcp` proxies to (off unless a URL is set)."""

    model_config = ConfigDict(extra="forbid")

    web_search_prime: str = Field("", description="e.g. https://api.z.ai/api/mcp/web_search_prime/mcp")
    web_reader: str = Field("", description="e.g. https://api.z.ai/api/mcp/web_reader/mcp")
    zai_mcp_server: str = Field("", description="URL of a zai-mcp-server endpoint (path /mcp/zai-mcp-server/mcp)")
    account: str = Field("", description="id of the anthropic_key account whose key is sent (default: the first)")

    @field_validator("web_search_prime", "web_reader", "zai_mcp_server")
    @classmethod
    def _urls(cls, v: str) -> str:
        return _http_url(v) if v else v

    def url(self, server: str) -> str:
        """The configured URL for a server name as it appears in the path ("" when off)."""
        return getattr(self, server.replace("-", "_"), "") if server in MCP_SERVERS else ""


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    port: int = Field(DEFAULT_PORT, ge=1, le=65535, description="listen port")
    host: str = Field("127.0.0.1", description="listen address; 0.0.0.0 only via allow_lan_access")
    allow_lan_access: bool = Field(False, description="bind 0.0.0.0 so other machines can use the gateway")
    allow_insecure_lan: bool = Field(False, description="permit LAN access with auth_mode off")
    auth_mode: AuthMode = Field("auto", description="off | strict | all_except_health | auto")
    api_key: str = Field("", description="the key clients must send when auth is on")
    upstream_timeout_s: float = Field(600.0, gt=0, description="whole upstream request")
    first_byte_timeout_s: float = Field(300.0, gt=0, description="wait for the upstream's first byte")
    keepalive_interval_s: float = Field(15.0, gt=0, description="ping the client while the upstream is silent")
    max_attempts: int = Field(3, ge=1, le=10, description="upstream attempts per request")
    max_body_mb: float = Field(32.0, gt=0, description="largest request body accepted")
    gemini_base_url: str = Field(GEMINI_API_BASE, description="Gemini API base URL for API-key accounts")
    model_mapping: dict[str, str] = Field(default_factory=dict, description="client model → upstream model; '*' wildcards")
    monitor: bool = Field(True, description="interlock run starts mitmweb (True) or mitmdump (False)")
    web_port: int = Field(8081, ge=1, le=65535, description="mitmweb UI port")
    oauth_token_url: str = Field("https://oauth2.googleapis.com/token", description="Google OAuth token endpoint")
    oauth_client_id: str = Field("", description="OAuth client id for refresh tokens stored without their own")
    oauth_client_secret: str = Field("", description="secret of oauth_client_id (installed-app clients have one)")
    oauth_clients: dict[str, OAuthClient] = Field(default_factory=dict,
                                                  description="OAuth clients by name; each account remembers the name of its own")
    oauth_client: str = Field("", description="the client `accounts login` uses (default: the only one in oauth_clients)")
    oauth_auth_url: str = Field("https://accounts.google.com/o/oauth2/v2/auth", description="Google consent page")
    oauth_userinfo_url: str = Field("https://www.googleapis.com/oauth2/v2/userinfo", description="who a token belongs to")
    oauth_scopes: list[str] = Field(default_factory=lambda: list(OAUTH_SCOPES), description="scopes `accounts login` asks for")
    cloudcode_base_urls: list[str] = Field(default_factory=lambda: list(CLOUDCODE_BASE_URLS), min_length=1,
                                           description="Cloud Code v1internal base URLs, tried in order")
    cloudcode_user_agent: str = Field("antigravity/1.11.5 linux/amd64", description="User-Agent sent to Cloud Code")
    cloudcode_headers: dict[str, str] = Field(default_factory=dict, description="extra headers sent to Cloud Code")
    quota_refresh_s: float = Field(600.0, ge=0, description="refresh Cloud Code quotas this often (0: only after 429s)")
    onboard_poll_s: float = Field(2.0, gt=0, description="pause between polls of an onboarding operation")
    anthropic: AnthropicUpstream = Field(default_factory=AnthropicUpstream,
                                         description="Anthropic-compatible upstream accounts and dispatch mode")
    mcp: McpSettings = Field(default_factory=McpSettings, description="MCP reverse proxy targets")

    @field_validator("api_key")
    @classmethod
    def _key_has_no_spaces(cls, v: str) -> str:
        if v != v.strip() or any(c.isspace() for c in v):
            raise ValueError("must not contain whitespace")
        return v

    @field_validator("gemini_base_url", "oauth_token_url", "oauth_auth_url", "oauth_userinfo_url")
    @classmethod
    def _is_http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("cloudcode_base_urls")
    @classmethod
    def _are_http_urls(cls, v: list[str]) -> list[str]:
        return [cls._is_http_url(u) for u in v]

    def login_client(self, name: str | None = None) -> tuple[str, OAuthClient]:
        """The named OAuth client, else `oauth_client`, else the only one; `oauth_client_id` as "default"."""
        clients = dict(self.oauth_clients)
        if self.oauth_client_id and "default" not in clients:
            clients["default"] = OAuthClient(client_id=self.oauth_client_id, client_secret=self.oauth_client_secret)
        wanted = name or self.oauth_client or (next(iter(clients)) if len(clients) == 1 else "")
        if wanted in clients:
            return wanted, clients[wanted]
        if not clients:
            raise SettingsError("no OAuth client configured: add one under [oauth_clients.NAME] "
                                "(client_id, client_secret) in config.toml")
        raise SettingsError(f"OAuth client {wanted!r} is not in oauth_clients (have: {', '.join(sorted(clients))})"
                            if wanted else f"several OAuth clients configured ({', '.join(sorted(clients))}): "
                            "choose one with --client or oauth_client")

    @property
    def effective_auth_mode(self) -> str:
        if self.auth_mode != "auto":
            return self.auth_mode
        return "all_except_health" if self.allow_lan_access else "off"

    @property
    def bind_host(self) -> str:
        return "0.0.0.0" if self.allow_lan_access else self.host


def home_dir(explicit: str | os.PathLike | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    return Path(os.environ.get("INTERLOCK_HOME") or "~/.interlock").expanduser()


def _describe(err: ValidationError, path: Path) -> str:
    lines = [f"{path}: invalid settings"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(file)"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def validate(data: dict[str, Any], source: Path | str = "settings") -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        raise SettingsError(_describe(e, Path(source))) from None


def _first_config(key: str) -> str:
    return f"""# interlock settings. Every key and its default: README.md, "Settings".
# Clients send this key as `Authorization: Bearer …`, `x-api-key`, `x-goog-api-key` or `?key=`.
api_key = "{key}"
# auth_mode = "auto"          # off | strict | all_except_health | auto (auth on only with LAN access)
# port = 8045
# allow_lan_access = false
# [model_mapping]
# "gpt-4o*" = "gemini-2.5-flash"
"""


def load(home: Path) -> Settings:
    """Read (creating on first start) `home/config.toml`."""
    path = home / "config.toml"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        (home / "accounts").mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(_first_config("sk-" + secrets.token_hex(24)))
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"{path}: not valid TOML: {e}") from None
    return validate(data, path)


def key_hint(key: str) -> str:
    """Enough of a key to recognise it, never enough to use it."""
    if not key:
        return "(none)"
    if len(key) <= 10:
        return key[:2] + "…"
    return f"{key[:5]}…{key[-4:]}"

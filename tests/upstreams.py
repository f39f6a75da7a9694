"""Account files for an Anthropic-compatible upstream (z.ai) played by a simulator in its own thread
(`cloudcode_home.SimThread`), whose Anthropic mode and MCP servers stand in for z.ai's."""

from __future__ import annotations

import json
from pathlib import Path

from cloudcode_home import SimThread  # noqa: F401 - re-exported: the tests of this feature start one


def add_anthropic_accounts(home: Path, base_url: str, keys: list[str]) -> None:
    """One `anthropic_key` account file per key, all at `base_url`."""
    accounts = home / "accounts"
    accounts.mkdir(parents=True, exist_ok=True)
    for i, key in enumerate(keys, 1):
        (accounts / f"zai-{i}.json").write_text(json.dumps(
            {"kind": "anthropic_key", "api_key": key, "label": f"zai-{i}", "base_url": base_url}))

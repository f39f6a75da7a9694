import os
import stat

import pytest

from addon import config


def test_first_start_creates_config_with_generated_key(tmp_path):
    home = tmp_path / "home"
    settings = config.load(home)
    assert settings.api_key.startswith("sk-") and len(settings.api_key) > 20
    assert (home / "accounts").is_dir()
    mode = stat.S_IMODE(os.stat(home / "config.toml").st_mode)
    assert mode == 0o600, "the file holds the key: owner only"
    assert config.load(home).api_key == settings.api_key, "the key is generated once"
    assert settings.port == 8045 and settings.host == "127.0.0.1" and settings.effective_auth_mode == "off"


def test_bad_values_are_named(tmp_path):
    (tmp_path / "config.toml").write_text('port = "eighty"\nauth_mode = "sometimes"\nmystery = 1\n')
    with pytest.raises(config.SettingsError) as e:
        config.load(tmp_path)
    text = str(e.value)
    assert "config.toml" in text and "port:" in text and "auth_mode:" in text and "mystery: unknown key" in text


def test_broken_toml_is_reported(tmp_path):
    (tmp_path / "config.toml").write_text("port = \n")
    with pytest.raises(config.SettingsError, match="not valid TOML"):
        config.load(tmp_path)


def test_auto_mode_follows_lan_access():
    assert config.validate({"allow_lan_access": True}).effective_auth_mode == "all_except_health"
    assert config.validate({"allow_lan_access": True}).bind_host == "0.0.0.0"
    assert config.validate({"auth_mode": "strict"}).effective_auth_mode == "strict"


def test_home_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERLOCK_HOME", str(tmp_path / "env"))
    assert config.home_dir() == tmp_path / "env"
    assert config.home_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_key_hint_never_shows_the_key():
    key = "sk-0123456789abcdef0123456789"
    hint = config.key_hint(key)
    assert hint.startswith("sk-01") and hint.endswith("6789") and "89abcdef" not in hint

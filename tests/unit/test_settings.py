"""Settings: defaults, the environment over .env, fallbacks, transport choice, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.settings import Settings, SettingsError, load_settings


@pytest.fixture
def no_env_file(tmp_path: Path) -> Path:
    return tmp_path / "absent.env"


def load(env: dict[str, str], env_file: Path) -> Settings:
    return load_settings(env, env_file)


def test_defaults_match_design(no_env_file: Path) -> None:
    s = load({}, no_env_file)
    assert (s.concurrency, s.per_host_concurrency, s.batch_size) == (50, 20, 50)
    assert (s.poll_interval_ms, s.lease_seconds, s.shutdown_grace_seconds) == (500, 60, 20)
    assert s.allow_private_targets is False
    assert s.max_response_bytes == 65536
    assert s.metrics_port is None
    assert s.data_dir == Path(".webhooks")
    assert s.log_format == "text"


def test_worker_id_defaults_to_hostname_and_pid(no_env_file: Path) -> None:
    import os

    assert load({}, no_env_file).worker_id.endswith(f"-{os.getpid()}")


def test_no_database_settings_means_embedded(no_env_file: Path) -> None:
    assert load({}, no_env_file).transport == "embedded"


def test_database_url_selects_direct(no_env_file: Path) -> None:
    s = load({"DATABASE_URL": "postgresql://u@localhost/db"}, no_env_file)
    assert s.transport == "direct"
    assert s.direct_overrides_supabase is False


def test_direct_wins_over_supabase_and_says_so(no_env_file: Path) -> None:
    env = {"DATABASE_URL": "postgresql://u@h/db", "SUPABASE_URL": "https://x.supabase.co"}
    s = load(env, no_env_file)
    assert s.transport == "direct"
    assert s.direct_overrides_supabase is True


def test_supabase_url_with_key_selects_supabase(no_env_file: Path) -> None:
    s = load({"SUPABASE_URL": "https://x.supabase.co", "SUPABASE_SERVICE_KEY": "k"}, no_env_file)
    assert s.transport == "supabase"
    assert s.supabase_service_key == "k"


def test_supabase_fallback_names_are_read(no_env_file: Path) -> None:
    env = {"NEXT_PUBLIC_SUPABASE_URL": "https://y.supabase.co", "SUPABASE_SERVICE_ROLE_KEY": "rk"}
    s = load(env, no_env_file)
    assert (s.transport, s.supabase_url, s.supabase_service_key) == ("supabase", "https://y.supabase.co", "rk")


def test_primary_supabase_names_win_over_fallbacks(no_env_file: Path) -> None:
    env = {
        "SUPABASE_URL": "https://a.supabase.co",
        "NEXT_PUBLIC_SUPABASE_URL": "https://b.supabase.co",
        "SUPABASE_SERVICE_KEY": "primary",
        "SUPABASE_SERVICE_ROLE_KEY": "fallback",
    }
    s = load(env, no_env_file)
    assert (s.supabase_url, s.supabase_service_key) == ("https://a.supabase.co", "primary")


def test_supabase_url_without_key_is_an_error(no_env_file: Path) -> None:
    with pytest.raises(SettingsError, match="SUPABASE_SERVICE_KEY"):
        load({"SUPABASE_URL": "https://x.supabase.co"}, no_env_file)


def test_database_url_must_be_postgres(no_env_file: Path) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load({"DATABASE_URL": "mysql://x"}, no_env_file)


def test_env_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("WEBHOOK_CONCURRENCY=7\nWEBHOOK_LOG_FORMAT=json\n")
    s = load({}, env_file)
    assert (s.concurrency, s.log_format) == (7, "json")


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("WEBHOOK_CONCURRENCY=7\n")
    assert load({"WEBHOOK_CONCURRENCY": "9"}, env_file).concurrency == 9


def test_env_file_in_working_directory_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("WEBHOOK_BATCH_SIZE=11\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).batch_size == 11


def test_loading_does_not_touch_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("WEBHOOK_BATCH_SIZE", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("WEBHOOK_BATCH_SIZE=11\n")
    load_settings({}, env_file)
    assert "WEBHOOK_BATCH_SIZE" not in os.environ


def test_empty_values_count_as_unset(no_env_file: Path) -> None:
    s = load({"WEBHOOK_CONCURRENCY": "", "WEBHOOK_METRICS_PORT": "", "DATABASE_URL": ""}, no_env_file)
    assert (s.concurrency, s.metrics_port, s.transport) == (50, None, "embedded")


def test_values_are_parsed(no_env_file: Path) -> None:
    env = {
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "TRUE",
        "WEBHOOK_METRICS_PORT": "9100",
        "WEBHOOK_SHUTDOWN_GRACE_SECONDS": "2.5",
        "WEBHOOK_DATA_DIR": "/var/lib/hooks",
        "WEBHOOK_WORKER_ID": "w1",
        "WEBHOOK_LOG_FORMAT": "JSON",
    }
    s = load(env, no_env_file)
    assert s.allow_private_targets is True
    assert s.metrics_port == 9100
    assert s.shutdown_grace_seconds == 2.5
    assert s.data_dir == Path("/var/lib/hooks")
    assert (s.worker_id, s.log_format) == ("w1", "json")


def test_metrics_port_zero_is_allowed(no_env_file: Path) -> None:
    assert load({"WEBHOOK_METRICS_PORT": "0"}, no_env_file).metrics_port == 0


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [
        ("WEBHOOK_CONCURRENCY", "lots", "integer"),
        ("WEBHOOK_CONCURRENCY", "0", "out of range"),
        ("WEBHOOK_METRICS_PORT", "65536", "0 to 65535"),
        ("WEBHOOK_METRICS_PORT", "-1", "0 to 65535"),
        ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "maybe", "true or false"),
        ("WEBHOOK_LOG_FORMAT", "xml", "text, json"),
        ("WEBHOOK_LOG_LEVEL", "loud", "debug, info, warning, error"),
        ("WEBHOOK_SHUTDOWN_GRACE_SECONDS", "soon", "seconds"),
        ("WEBHOOK_POLL_INTERVAL_MS", "1.5", "integer"),
    ],
)
def test_bad_value_names_the_variable_on_one_line(
    no_env_file: Path, name: str, value: str, hint: str
) -> None:
    with pytest.raises(SettingsError) as info:
        load({name: value}, no_env_file)
    message = str(info.value)
    assert name in message and hint in message
    assert "\n" not in message


def test_settings_are_frozen(no_env_file: Path) -> None:
    import dataclasses

    s = load({}, no_env_file)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.concurrency = 1  # type: ignore[misc]


def test_env_example_lists_every_setting() -> None:
    example = (Path(__file__).parents[2] / ".env.example").read_text()
    names = [
        "DATABASE_URL", "SUPABASE_URL", "SUPABASE_SERVICE_KEY", "WEBHOOK_CONCURRENCY",
        "WEBHOOK_PER_HOST_CONCURRENCY", "WEBHOOK_BATCH_SIZE", "WEBHOOK_POLL_INTERVAL_MS",
        "WEBHOOK_LEASE_SECONDS", "WEBHOOK_SHUTDOWN_GRACE_SECONDS", "WEBHOOK_ALLOW_PRIVATE_TARGETS",
        "WEBHOOK_MAX_RESPONSE_BYTES", "WEBHOOK_WORKER_ID", "WEBHOOK_METRICS_PORT",
        "WEBHOOK_DATA_DIR", "WEBHOOK_LOG_FORMAT", "WEBHOOK_LOG_LEVEL",
    ]
    for name in names:
        assert f"\n{name}=" in example, name


def test_env_example_loads_as_the_defaults(no_env_file: Path) -> None:
    example = Path(__file__).parents[2] / ".env.example"
    from_example = load_settings({"WEBHOOK_WORKER_ID": "w"}, example)
    assert from_example == load({"WEBHOOK_WORKER_ID": "w"}, no_env_file)

from pathlib import Path

import pytest

from ohlcv_workbench.errors import ConfigError
from ohlcv_workbench.settings import Settings, default_data_dir, mask_url


def test_defaults():
    settings = Settings.from_env({})
    assert settings.data_dir == default_data_dir()
    assert settings.redis_url is None
    assert settings.redis_source == "embedded"
    assert settings.uses_embedded_redis
    assert settings.heartbeat_interval == 2.0
    assert settings.stale_after == 6.0
    assert settings.log_level == "WARNING"
    assert settings.sim_url is None
    assert settings.resolved_store_url == f"sqlite:///{settings.data_dir / 'ohlcv.sqlite'}"


def test_default_data_dir_is_the_checkout_data_dir():
    # the suite runs from a source checkout: data/ beside pyproject.toml
    root = Path(__file__).resolve().parent.parent
    assert default_data_dir() == root / "data"


def test_each_variable(tmp_path):
    env = {
        "OHLCV_WORKBENCH_DATA_DIR": str(tmp_path / "d"),
        "OHLCV_WORKBENCH_REDIS_URL": "redis://:pw@10.0.0.5:6380/2",
        "OHLCV_WORKBENCH_STORE_URL": "sqlite:////srv/candles.sqlite",
        "OHLCV_WORKBENCH_HEARTBEAT_INTERVAL": "0.5",
        "OHLCV_WORKBENCH_LOG_LEVEL": "debug",
        "OHLCV_WORKBENCH_SIM_URL": "http://127.0.0.1:9999/",
        "OHLCV_WORKBENCH_SIM_SEED": "123",
    }
    settings = Settings.from_env(env)
    assert settings.data_dir == (tmp_path / "d").resolve()
    assert settings.redis_url == "redis://:pw@10.0.0.5:6380/2"
    assert settings.redis_source == "url"
    assert not settings.uses_embedded_redis
    assert settings.resolved_store_url == "sqlite:////srv/candles.sqlite"
    assert settings.heartbeat_interval == 0.5
    assert settings.log_level == "DEBUG"
    assert settings.sim_url == "http://127.0.0.1:9999"
    assert settings.sim_seed == 123


def test_empty_value_means_default():
    assert Settings.from_env({"OHLCV_WORKBENCH_LOG_LEVEL": ""}).log_level == "WARNING"


def test_fullon_redis_variables():
    env = {"REDIS_HOST": "cache.local", "REDIS_PORT": "6390", "REDIS_DB": "3",
           "REDIS_PASSWORD": "p@ss/w"}  # fmt: skip
    settings = Settings.from_env(env)
    assert settings.redis_source == "fullon"
    assert settings.redis_url == "redis://:p%40ss%2Fw@cache.local:6390/3"


def test_fullon_database_variables():
    env = {"DB_HOST": "db.local", "DB_PORT": "5433", "DB_USER": "fullon",
           "DB_PASSWORD": "s3:cr@t", "DB_OHLCV_NAME": "fullon_ohlcv"}  # fmt: skip
    settings = Settings.from_env(env)
    assert settings.store_source == "fullon"
    assert (
        settings.resolved_store_url == "postgresql://fullon:s3%3Acr%40t@db.local:5433/fullon_ohlcv"
    )
    assert not settings.uses_embedded_postgres
    only_name = Settings.from_env({"DB_OHLCV_NAME": "ohlcv"})
    assert only_name.store_url == "postgresql://postgres@localhost:5432/ohlcv"
    # DB_HOST alone may serve fullon's other database: the store stays the default
    assert Settings.from_env({"DB_HOST": "db.local"}).store_source == "default"
    with pytest.raises(ConfigError, match=r"DB_PORT='pg' is not valid: expected an integer"):
        Settings.from_env({"DB_OHLCV_NAME": "ohlcv", "DB_PORT": "pg"})
    wins = {**env, "OHLCV_WORKBENCH_STORE_URL": "sqlite:///x.sqlite"}
    assert Settings.from_env(wins).resolved_store_url == "sqlite:///x.sqlite"


def test_embedded_postgres_store():
    for url in ("postgresql+embedded://", "postgresql+embedded:///candles"):
        settings = Settings.from_env({"OHLCV_WORKBENCH_STORE_URL": url})
        assert settings.uses_embedded_postgres and settings.store_source == "embedded"
    plain = Settings.from_env({"OHLCV_WORKBENCH_STORE_URL": "postgresql://u@h/db"})
    assert plain.store_source == "url" and not plain.uses_embedded_postgres


def test_workbench_url_wins_over_fullon():
    env = {"REDIS_HOST": "cache.local", "OHLCV_WORKBENCH_REDIS_URL": "redis://other:1/0"}
    assert Settings.from_env(env).redis_url == "redis://other:1/0"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("OHLCV_WORKBENCH_HEARTBEAT_INTERVAL", "fast", "positive number"),
        ("OHLCV_WORKBENCH_HEARTBEAT_INTERVAL", "-1", "positive number"),
        ("OHLCV_WORKBENCH_HEARTBEAT_INTERVAL", "nan", "positive number"),
        ("OHLCV_WORKBENCH_LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ("OHLCV_WORKBENCH_REDIS_URL", "http://localhost:6379", "redis://, rediss://, unix://"),
        ("OHLCV_WORKBENCH_REDIS_URL", "redis://localhost:notaport", "not a valid URL"),
        ("OHLCV_WORKBENCH_REDIS_URL", "redis://", "names no host"),
        ("OHLCV_WORKBENCH_STORE_URL", "mysql://db/ohlcv", "sqlite:///path, postgresql://"),
        ("OHLCV_WORKBENCH_STORE_URL", "postgresql://db:x/ohlcv", "not a valid URL"),
        ("OHLCV_WORKBENCH_STORE_URL", "postgresql+embedded://h/db", "takes no host"),
        ("OHLCV_WORKBENCH_STORE_URL", "postgresql+embedded:///1db", "database name '1db'"),
        ("OHLCV_WORKBENCH_SIM_URL", "ftp://127.0.0.1:1", "http://"),
        ("OHLCV_WORKBENCH_SIM_SEED", "1.5", "integer"),
        ("OHLCV_WORKBENCH_SIM_SEED", "-3", "0.."),
        ("REDIS_PORT", "eighty", "integer"),
        ("REDIS_PORT", "70000", "1..65535"),
    ],
)
def test_malformed_values_are_rejected(name, value, expected):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: value})
    message = str(info.value)
    assert name in message
    assert repr(value) in message
    assert expected in message


def test_data_dir_that_is_a_file_is_rejected(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        Settings.from_env({"OHLCV_WORKBENCH_DATA_DIR": str(path)})


def test_unknown_variable_is_rejected_with_suggestion():
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"OHLCV_WORKBENCH_DATADIR": "/tmp/x"})
    message = str(info.value)
    assert "Unknown setting OHLCV_WORKBENCH_DATADIR" in message
    assert "Did you mean OHLCV_WORKBENCH_DATA_DIR?" in message
    assert "OHLCV_WORKBENCH_HEARTBEAT_INTERVAL" in message  # lists the valid names


def test_unrelated_variables_are_ignored():
    assert Settings.from_env({"HOME": "/root", "OHLCV_OTHER": "1"}).redis_url is None


SECRET = "s3cr:et-pw"


def test_settings_print_no_password(tmp_path):
    settings = Settings.from_env(
        {
            "OHLCV_WORKBENCH_DATA_DIR": str(tmp_path),
            "OHLCV_WORKBENCH_REDIS_URL": f"redis://user:{SECRET}@10.0.0.5:6380/2",
        }
    )
    assert settings.redis_url == f"redis://user:{SECRET}@10.0.0.5:6380/2"  # used as given
    for shown in (repr(settings), str(settings), f"{settings}"):
        assert SECRET not in shown and "redis://user:***@10.0.0.5:6380/2" in shown
    fullon = Settings.from_env({"REDIS_HOST": "h", "REDIS_PASSWORD": "pw-from-fullon"})
    assert "pw-from-fullon" not in repr(fullon)


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET}@host:notaport/0",  # malformed port
        f"redis://:{SECRET}]@[host/0",  # malformed host
        f"mysql://:{SECRET}@host/0",  # wrong scheme
        f"redis://:{SECRET}@/0",  # no host
        "redis://:hunter/zebra@host/0",  # a "/" not percent-encoded: parsed as a path
        "redis://host:bad/0?password=qwerty&x=1",  # the password in the query
    ],
)
def test_a_malformed_url_is_named_without_its_password(url):
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"OHLCV_WORKBENCH_REDIS_URL": url})
    message = str(info.value)
    assert "OHLCV_WORKBENCH_REDIS_URL=" in message and "***" in message
    for secret in (SECRET, "qwerty", "hunter", "zebra"):
        assert secret not in message
    assert "\n" not in message


def test_mask_url():
    assert mask_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert (
        mask_url("postgresql://me:p@ss@db/x?sslmode=require")
        == "postgresql://me:***@db/x?sslmode=require"
    )
    assert mask_url("redis://h:1/0") == "redis://h:1/0"
    assert mask_url("see redis://u:x@h/0 and http://h/?password=y") == (
        "see redis://u:***@h/0 and http://h/?password=***"
    )

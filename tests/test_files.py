"""Private files: everything under the data dir is 0600 (files) in 0700 folders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd

from ohlcv_workbench.files import private_dir, tighten, touch_private, write_private
from ohlcv_workbench.records import SeriesKey
from ohlcv_workbench.services import EmbeddedSimulator
from ohlcv_workbench.settings import Settings
from ohlcv_workbench.store import SqliteStore
from tests.helpers import cli, sim_candles


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes_under(root: Path) -> dict[str, int]:
    """Every file and folder below ``root`` with its mode."""
    return {str(p.relative_to(root)): mode(p) for p in root.rglob("*")}


def test_helpers_create_private_files_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        deep = private_dir(tmp_path / "a" / "b" / "c")
        write_private(deep / "state.json", "{}")
        touch_private(deep / "lock")
        touch_private(deep / "lock")  # idempotent
    finally:
        os.umask(old)
    assert [mode(tmp_path / p) for p in ("a", "a/b", "a/b/c")] == [0o700] * 3
    assert mode(deep / "state.json") == mode(deep / "lock") == 0o600
    assert (deep / "state.json").read_text() == "{}"
    assert sorted(os.listdir(deep)) == ["lock", "state.json"]  # no temporary file left


def test_tighten_narrows_what_an_older_version_made_wider(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir(mode=0o755)
    (folder / "state.json").write_text("{}")
    os.chmod(folder / "state.json", 0o644)
    os.chmod(folder, 0o755)
    tighten(folder)
    assert mode(folder) == 0o700 and mode(folder / "state.json") == 0o600


def test_everything_under_the_data_dir_is_private(tmp_path):
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OHLCV_WORKBENCH_")}
    env["OHLCV_WORKBENCH_DATA_DIR"] = str(data)
    old = os.umask(0o022)  # the usual umask: the workbench must not rely on a stricter one
    try:
        args = ("collect", "sim", "ETH/USDT", "--since", "2026-10-01", "--until",
                "2026-10-01T03:00", "-q")  # fmt: skip
        done = cli(env, *args)
        assert done.returncode == 0, done.stderr
        found = modes_under(data)
        # the store, the AOF files, logs, state files, locks and the password are there
        for name in ("ohlcv.sqlite", "services/redis/appendonlydir", "services/redis/redis.log",
                     "services/redis/state.json", "services/redis/lock", "services/sim/sim.log",
                     "services/redis/password", "services/sim/state.json"):  # fmt: skip
            assert name in found, sorted(found)
        assert any(name.startswith("services/redis/appendonlydir/") for name in found)
        wider = {
            name: oct(m)
            for name, m in found.items()
            if m != (0o700 if (data / name).is_dir() else 0o600)
        }
        assert wider == {}
        assert mode(data) == 0o700
    finally:
        os.umask(old)
        cli(env, "services", "down")
    with SqliteStore(data / "ohlcv.sqlite") as store:
        got = store.ohlcv_load(SeriesKey("sim", "ETH/USDT", "1m"))
    url = EmbeddedSimulator(Settings(data_dir=data)).url()
    try:
        expected = sim_candles(url, "ETH/USDT", "1m", "2026-10-01", "2026-10-01T03:00")
    finally:
        EmbeddedSimulator(Settings(data_dir=data)).stop()
    assert len(got) == 180
    pd.testing.assert_frame_equal(got, expected, check_freq=False)


def test_tighten_keeps_a_search_bit_granted_on_purpose(tmp_path):
    passage = tmp_path / "passage"
    passage.mkdir()
    os.chmod(passage, 0o701)  # another account must pass it (the embedded PostgreSQL's)
    (passage / "secret").write_text("x")
    os.chmod(passage / "secret", 0o644)
    tighten(passage)
    assert mode(passage) == 0o701 and mode(passage / "secret") == 0o600
    os.chmod(passage, 0o711)  # more than the search bit: narrowed as before
    tighten(passage)
    assert mode(passage) == 0o700

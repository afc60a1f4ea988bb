"""ProcessCache against the real server: the raw Redis keys, field by field, as the spec says."""

import asyncio
import json
import logging
import re
import socket
from datetime import UTC, datetime, timedelta

import pytest
import redis
import redis.asyncio as aioredis

from ohlcv_workbench.errors import InputError, RegistryError, RegistryUnavailableError
from ohlcv_workbench.registry import PROCESS_TTL, ProcessCache, ProcessStatus, ProcessType

from .conftest import record, sent_commands

COMPONENT = "ohlcv.sim.BTC/USDT"
FIELDS = {
    "process_id",
    "process_type",
    "component",
    "params",
    "status",
    "message",
    "created_at",
    "updated_at",
    "heartbeat",
}


def iso_utc(value):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00", value), value
    return datetime.fromisoformat(value)


def age_record(raw, process_id, minutes, *fields):
    """Rewrite record times (and the active entry) as if they were ``minutes`` old."""
    data = record(raw, process_id)
    old = (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()
    for name in fields:
        if name == "active":
            raw.hset(f"process:active:{data['process_type']}", process_id, old)
        else:
            data[name] = old
    raw.set(f"process:data:{process_id}", json.dumps(data), keepttl=True)


def test_enum_values_are_fullons():
    assert {t.name: t.value for t in ProcessType} == {
        "TICK": "tick",
        "OHLCV": "ohlcv",
        "BOT": "bot",
        "ACCOUNT": "account",
        "ORDER": "order",
        "BOT_STATUS_SERVICE": "bot_status_service",
        "CRAWLER": "crawler",
        "USER_TRADES_SERVICE": "user_trades_service",
    }
    assert [s.value for s in ProcessStatus] == [
        "starting", "running", "processing", "idle", "error", "stopped",
    ]  # fmt: skip
    as_strings: list[str] = [ProcessType.OHLCV, ProcessStatus.ERROR]  # str enums
    assert as_strings == ["ohlcv", "error"]


async def test_register_writes_the_spec_layout(cache, raw):
    before = datetime.now(UTC).timestamp()
    pid = await cache.register_process(
        process_type=ProcessType.OHLCV,
        component=COMPONENT,
        params={"pid": 1234, "args": ["ohlcv_daemon"]},
        message="Started",
        status=ProcessStatus.STARTING,
    )
    prefix = f"ohlcv:{COMPONENT}:"
    assert pid.startswith(prefix)
    stamp = pid[len(prefix) :]
    assert re.fullmatch(r"\d+\.\d+", stamp) and before <= float(stamp) <= before + 5

    data = record(raw, pid)
    assert set(data) == FIELDS
    assert data["process_id"] == pid
    assert data["process_type"] == "ohlcv"
    assert data["component"] == COMPONENT
    assert data["params"] == {"pid": 1234, "args": ["ohlcv_daemon"]}
    assert data["status"] == "starting"
    assert data["message"] == "Started"
    created = iso_utc(data["created_at"])
    assert data["updated_at"] == data["heartbeat"] == data["created_at"]
    assert created.timestamp() == pytest.approx(float(stamp), abs=1e-5)
    # the same bytes Python's json.dumps (fullon_cache's serializer) writes
    assert raw.get(f"process:data:{pid}") == json.dumps(data)
    assert PROCESS_TTL - 5 <= raw.ttl(f"process:data:{pid}") <= PROCESS_TTL == 86400
    assert raw.hgetall("process:active:ohlcv") == {pid: data["created_at"]}
    assert raw.ttl("process:active:ohlcv") == -1
    assert raw.hgetall("process:components") == {COMPONENT: pid}
    assert raw.ttl("process:components") == -1


async def test_register_defaults(cache, raw):
    pid = await cache.register_process(ProcessType.BOT, "bot_1")
    data = record(raw, pid)
    assert data["params"] == {}
    assert data["message"] == "Process bot_1 registered"
    assert data["status"] == "starting"
    assert pid.startswith("bot:bot_1:")


async def test_same_component_registered_twice_gets_two_ids(cache, raw):
    first, second = await asyncio.gather(
        *(cache.register_process(ProcessType.OHLCV, COMPONENT) for _ in range(2))
    )
    assert first != second
    assert len(raw.hgetall("process:active:ohlcv")) == 2
    assert raw.hget("process:components", COMPONENT) in (first, second)


async def test_update_merges_params_and_resets_ttl(cache, raw):
    params = {"exchange": "sim", "ratio": 0.1234567890123456789, "big": 2**60, "empty": []}
    pid = await cache.register_process(ProcessType.OHLCV, COMPONENT, params=params)
    created = record(raw, pid)
    raw.expire(f"process:data:{pid}", 100)

    assert await cache.update_process(
        pid, status=ProcessStatus.RUNNING, message='page 1 "of" 3 / é', params={"done": 10}
    )
    data = record(raw, pid)
    expected = dict(created, status="running", message='page 1 "of" 3 / é')
    expected["params"] = {**params, "done": 10}
    expected["updated_at"] = expected["heartbeat"] = data["updated_at"]
    assert data == expected
    assert iso_utc(data["updated_at"]) > iso_utc(created["updated_at"])
    # untouched values keep their exact bytes: the stored text is json.dumps of the merged dict
    assert raw.get(f"process:data:{pid}") == json.dumps(expected)
    assert raw.ttl(f"process:data:{pid}") > PROCESS_TTL - 5
    assert raw.hget("process:active:ohlcv", pid) == data["updated_at"]

    # status and message only when given; params merged (dict.update), not replaced
    assert await cache.update_process(pid, params={"done": 20, "nested": {"a": [1, {}]}})
    data = record(raw, pid)
    assert data["status"] == "running" and data["message"] == 'page 1 "of" 3 / é'
    assert data["params"] == {**params, "done": 20, "nested": {"a": [1, {}]}}

    # heartbeat=False moves updated_at only
    before = record(raw, pid)
    assert await cache.update_process(pid, message="no beat", heartbeat=False)
    data = record(raw, pid)
    assert data["heartbeat"] == before["heartbeat"]
    assert data["updated_at"] > before["updated_at"]


async def test_update_of_an_unknown_id_is_false_and_logged(cache, raw, caplog):
    with caplog.at_level(logging.WARNING, logger="ohlcv_workbench.registry.cache"):
        assert await cache.update_process("ohlcv:nothing:1.0", message="x") is False
        assert await cache.stop_process("ohlcv:nothing:1.0") is False
    assert raw.dbsize() == 0
    assert sum("ohlcv:nothing:1.0" in r.getMessage() for r in caplog.records) == 2


async def test_update_is_one_round_trip_without_ping(cache, raw, url):
    pid = await cache.register_process(ProcessType.OHLCV, COMPONENT)
    await cache.update_process(pid, message="warm-up")  # the script is cached from here on
    stats_before = raw.info("commandstats")

    async def five_updates():
        for n in range(5):
            assert await cache.update_process(pid, message=f"beat {n}", params={"n": n})

    assert await sent_commands(url, cache.client, five_updates) == ["EVALSHA"] * 5
    stats_after = raw.info("commandstats")

    def calls(stats, name):
        return stats.get(name, {}).get("calls", 0)

    assert calls(stats_after, "cmdstat_ping") == calls(stats_before, "cmdstat_ping")
    assert calls(stats_after, "cmdstat_evalsha") - calls(stats_before, "cmdstat_evalsha") == 5
    assert record(raw, pid)["params"] == {"n": 4}


async def test_get_process(cache):
    pid = await cache.register_process(ProcessType.TICK, "tick.sim", params={"a": 1})
    data = await cache.get_process(pid)
    assert data is not None and data["params"] == {"a": 1} and set(data) == FIELDS
    assert await cache.get_process("tick:none:1.0") is None


async def test_stop_keeps_the_record(cache, raw):
    pid = await cache.register_process(ProcessType.OHLCV, COMPONENT, params={"x": 1})
    await cache.update_process(pid, status=ProcessStatus.RUNNING)
    before = record(raw, pid)
    raw.expire(f"process:data:{pid}", 100)

    assert await cache.stop_process(pid)
    data = record(raw, pid)
    assert data["status"] == "stopped" and data["message"] == "Process stopped"
    assert data["heartbeat"] == before["heartbeat"]
    assert data["updated_at"] > before["updated_at"]
    assert data["params"] == {"x": 1} and data["created_at"] == before["created_at"]
    assert raw.ttl(f"process:data:{pid}") > PROCESS_TTL - 5
    assert raw.hgetall("process:active:ohlcv") == {}
    assert raw.hgetall("process:components") == {}
    assert (await cache.get_process(pid))["status"] == "stopped"


async def test_stop_with_error_keeps_the_reason(cache, raw):
    pid = await cache.register_process(ProcessType.OHLCV, COMPONENT)
    assert await cache.stop_process(pid, "ValueError: boom", status=ProcessStatus.ERROR)
    data = record(raw, pid)
    assert (data["status"], data["message"]) == ("error", "ValueError: boom")
    assert raw.hgetall("process:active:ohlcv") == {} and raw.hgetall("process:components") == {}


async def test_stop_leaves_the_component_to_its_newer_process(cache, raw):
    old = await cache.register_process(ProcessType.OHLCV, COMPONENT)
    new = await cache.register_process(ProcessType.OHLCV, COMPONENT)
    assert await cache.stop_process(old, "replaced")
    assert raw.hgetall("process:components") == {COMPONENT: new}
    assert list(raw.hgetall("process:active:ohlcv")) == [new]


async def test_ending_one_of_several_processes_of_a_component_never_unindexes_another(cache, raw):
    """Several daemons share the component ``ohlcv_daemon``: the index follows a live one."""
    hosts = [await cache.register_process(ProcessType.OHLCV, "ohlcv_daemon") for _ in range(3)]
    first, second, third = hosts
    assert raw.hget("process:components", "ohlcv_daemon") == third  # the latest registered
    await cache.update_process(first)  # the freshest of the others
    assert await cache.stop_process(third)
    assert raw.hget("process:components", "ohlcv_daemon") == first
    assert await cache.stop_process(second)  # not indexed: the index stays
    assert raw.hget("process:components", "ohlcv_daemon") == first
    assert await cache.stop_process(first)  # the last one
    assert raw.hgetall("process:components") == {}
    # a stale one cleaned up while another runs gives the index to the running one
    stale = await cache.register_process(ProcessType.OHLCV, "ohlcv_daemon")
    raw.hset("process:active:ohlcv", stale, "2000-01-01T00:00:00+00:00")
    record_text = raw.get(f"process:data:{stale}")
    raw.set(f"process:data:{stale}", record_text.replace('"heartbeat": "2', '"heartbeat": "1'))
    live = await cache.register_process(ProcessType.OHLCV, "ohlcv_daemon")
    raw.hset("process:components", "ohlcv_daemon", stale)  # as a fullon register would leave it
    assert await cache.cleanup_stale_processes(stale_minutes=1) == 1
    assert raw.hget("process:components", "ohlcv_daemon") == live
    # a record of another component whose id shares the prefix is never taken
    other = await cache.register_process(ProcessType.OHLCV, "ohlcv_daemon:x")
    assert await cache.stop_process(live)
    assert raw.hgetall("process:components") == {"ohlcv_daemon:x": other}


async def test_component_index(cache, raw):
    pid = await cache.register_process(ProcessType.OHLCV, COMPONENT, message="m")
    status = await cache.get_component_status(COMPONENT)
    assert status is not None and status["process_id"] == pid and status["message"] == "m"
    assert await cache.get_component_status("ohlcv.sim.ETH/USDT") is None
    await cache.stop_process(pid)
    assert await cache.get_component_status(COMPONENT) is None


async def test_process_history_is_every_record_of_the_component_newest_first(cache, raw):
    first = await cache.register_process(ProcessType.OHLCV, COMPONENT, message="first")
    await cache.stop_process(first, "done")
    second = await cache.register_process(ProcessType.OHLCV, COMPONENT, message="second")
    # neighbours a SCAN pattern could confuse: a glob character, a longer component, a prefix
    await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.BTC/USDT.x")
    await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.BTC")
    odd = await cache.register_process(ProcessType.BOT, "bot[1]*")

    history = await cache.get_process_history(COMPONENT)
    assert [r["process_id"] for r in history] == [second, first]
    assert [r["status"] for r in history] == ["starting", "stopped"]  # ended ones included
    assert [r["process_id"] for r in await cache.get_process_history(COMPONENT, limit=1)] == [
        second
    ]
    assert [r["process_id"] for r in await cache.get_process_history("bot[1]*")] == [odd]
    assert await cache.get_process_history("ohlcv.sim.ETH/USDT") == []
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="limit must be a positive integer"):
            await cache.get_process_history(COMPONENT, limit=bad)


async def test_every_public_method_of_fullon_cache_exists_with_its_signature():
    import inspect

    # fullon_cache 0.5.11: name -> parameters (after self) and their defaults
    fullon = {
        "register_process": ["process_type", "component", "params=None", "message=None",
                             "status=ProcessStatus.STARTING"],
        "update_process": ["process_id", "status=None", "message=None", "params=None",
                           "heartbeat=True"],
        "get_process": ["process_id"],
        "get_active_processes": ["process_type=None", "component=None", "since_minutes=5",
                                 "include_heartbeat_check=True"],
        "stop_process": ["process_id", "message=None"],
        "cleanup_stale_processes": ["stale_minutes=30"],
        "get_process_history": ["component", "limit=100"],
        "get_component_status": ["component"],
        "get_system_health": [],
        "broadcast_message": ["process_type", "message", "data=None"],
        "get_metrics": [],
    }  # fmt: skip
    for name, expected in fullon.items():
        method = getattr(ProcessCache, name)
        assert inspect.iscoroutinefunction(method), name
        params = list(inspect.signature(method).parameters.values())[1:]
        shown = [
            p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!s}"
            for p in params
            if p.kind is not inspect.Parameter.KEYWORD_ONLY  # our additions are keyword-only
        ]
        assert shown == expected, name


async def test_get_active_processes_filters_and_sorts(cache, raw):
    a = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.A/USDT")
    b = await cache.register_process(ProcessType.BOT, "bot_b")
    c = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.C/USDT")
    old = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.OLD/USDT")
    age_record(raw, old, 10, "active", "updated_at", "heartbeat")
    quiet = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.QUIET/USDT")
    age_record(raw, quiet, 10, "heartbeat")  # updates, but no heartbeat within the window
    gone = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.GONE/USDT")
    raw.delete(f"process:data:{gone}")  # expired record, dangling active entry
    await cache.update_process(a, message="latest")

    everything = await cache.get_active_processes()
    assert [p["process_id"] for p in everything] == [a, quiet, c, b]  # updated_at descending
    stale = {p["process_id"]: p["_heartbeat_stale"] for p in everything}
    assert stale == {a: False, b: False, c: False, quiet: True}

    bots = await cache.get_active_processes(process_type=ProcessType.BOT)
    assert [p["process_id"] for p in bots] == [b]
    only_c = await cache.get_active_processes(component="ohlcv.sim.C/USDT")
    assert [p["process_id"] for p in only_c] == [c]
    wide = await cache.get_active_processes(since_minutes=60, include_heartbeat_check=False)
    assert {p["process_id"] for p in wide} == {a, b, c, old, quiet}
    assert all("_heartbeat_stale" not in p for p in wide)
    await cache.stop_process(c)
    assert c not in {p["process_id"] for p in await cache.get_active_processes()}


async def test_cleanup_stale_processes(cache, raw):
    dead = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.DEAD/USDT")
    age_record(raw, dead, 45, "active", "heartbeat")
    beating = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.BEAT/USDT")
    age_record(raw, beating, 45, "active")  # old active entry, fresh heartbeat: kept
    fresh = await cache.register_process(ProcessType.BOT, "bot_fresh")
    raw.hset("process:active:bot", "bot:garbled:1.0", "not a time")
    raw.hset("process:active:bot", "bot:expired:1.0", "2020-01-01T00:00:00+00:00")

    assert await cache.cleanup_stale_processes() == 3
    data = record(raw, dead)
    assert data["status"] == "stopped" and data["message"] == "Process stale for 30 minutes"
    assert set(raw.hgetall("process:active:ohlcv")) == {beating}
    assert set(raw.hgetall("process:active:bot")) == {fresh}
    assert await cache.cleanup_stale_processes() == 0


async def test_system_health(cache, raw):
    empty = await cache.get_system_health()
    assert empty == {
        "healthy": True,
        "total_processes": 0,
        "by_type": {},
        "by_status": {},
        "stale_processes": 0,
        "error_processes": 0,
    }
    a = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.A/USDT")
    await cache.update_process(a, status=ProcessStatus.RUNNING)
    await cache.register_process(ProcessType.BOT, "bot_1")
    assert (await cache.get_system_health())["healthy"] is True

    broken = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.B/USDT")
    await cache.update_process(broken, status=ProcessStatus.ERROR, message="failed")
    silent = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.C/USDT")
    age_record(raw, silent, 90, "heartbeat")
    health = await cache.get_system_health()
    assert health == {
        "healthy": False,
        "total_processes": 4,
        "by_type": {"ohlcv": 3, "bot": 1},
        "by_status": {"running": 1, "starting": 2, "error": 1},
        "stale_processes": 1,
        "error_processes": 1,
    }


async def test_metrics(cache, raw):
    a = await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.A/USDT")
    await cache.register_process(ProcessType.OHLCV, "ohlcv.sim.B/USDT")
    await cache.register_process(ProcessType.CRAWLER, "crawler_1")
    await cache.stop_process(a)
    metrics = await cache.get_metrics()
    assert metrics == {
        "total_processes": 3,
        "active_processes": 2,
        "components": 2,
        **{f"active_{t.value}": 0 for t in ProcessType},
        "active_ohlcv": 1,
        "active_crawler": 1,
    }


async def test_broadcast_message_reaches_subscribers(cache, url):
    async with aioredis.Redis.from_url(url, decode_responses=True) as sub_client:
        pubsub = sub_client.pubsub()
        await pubsub.subscribe("process:broadcast:ohlcv")
        assert (await pubsub.get_message(timeout=2))["type"] == "subscribe"
        receivers = await cache.broadcast_message(ProcessType.OHLCV, "reload", {"symbols": 2})
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
        await pubsub.aclose()
    assert receivers == 1
    payload = json.loads(message["data"])
    assert set(payload) == {"message", "data", "timestamp"}
    assert payload["message"] == "reload" and payload["data"] == {"symbols": 2}
    iso_utc(payload["timestamp"])
    assert await cache.broadcast_message(ProcessType.BOT, "nobody listens") == 0


BAD_REGISTRATIONS = [
    ({"process_type": "ohlcv"}, TypeError, "ProcessType"),
    ({"process_type": None}, TypeError, "ProcessType"),
    ({"status": "running"}, TypeError, "ProcessStatus"),
    ({"component": ""}, InputError, "non-empty"),
    ({"component": "   "}, InputError, "non-empty"),
    ({"component": 42}, TypeError, "component"),
    ({"params": ["ohlcv_daemon"]}, TypeError, "params must be a dict"),
    ({"params": "x"}, TypeError, "params must be a dict"),
    ({"params": {1: "x"}}, TypeError, "keys must be str"),
    ({"params": {"when": object()}}, TypeError, "params['when']"),
    ({"params": {"ratio": float("nan")}}, InputError, "params['ratio']"),
    ({"message": 5}, TypeError, "message"),
]


@pytest.mark.parametrize(("change", "error", "words"), BAD_REGISTRATIONS)
async def test_bad_registration_is_refused_before_writing(cache, raw, change, error, words):
    kwargs = {"process_type": ProcessType.OHLCV, "component": COMPONENT, **change}
    with pytest.raises(error, match=re.escape(words)):
        await cache.register_process(**kwargs)
    assert raw.dbsize() == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"status": "running"}, TypeError),
        ({"params": [1]}, TypeError),
        ({"params": {"x": float("inf")}}, InputError),
        ({"message": b"bytes"}, TypeError),
    ],
)
async def test_bad_update_is_refused_before_writing(cache, raw, kwargs, error):
    pid = await cache.register_process(ProcessType.OHLCV, COMPONENT)
    before = raw.get(f"process:data:{pid}")
    with pytest.raises(error):
        await cache.update_process(pid, **kwargs)
    assert raw.get(f"process:data:{pid}") == before


async def test_other_bad_arguments(cache, raw):
    with pytest.raises(TypeError, match="ProcessStatus"):
        await cache.stop_process("x:y:1.0", status="error")
    with pytest.raises(TypeError, match="ProcessType"):
        await cache.get_active_processes(process_type="ohlcv")
    with pytest.raises(TypeError, match="ProcessType"):
        await cache.broadcast_message("ohlcv", "hi")
    with pytest.raises(InputError, match="process_id"):
        await cache.get_process("")
    with pytest.raises(InputError, match="not both"):
        ProcessCache("redis://127.0.0.1:1/0", client=aioredis.Redis())
    assert raw.dbsize() == 0


async def test_a_malformed_record_is_a_registry_error(cache, raw):
    raw.set("process:data:ohlcv:bad:1.0", '{"process_type": "ohlcv", "params": {"a": [1}')
    with pytest.raises(RegistryError, match="malformed JSON"):
        await cache.update_process("ohlcv:bad:1.0", message="x")
    raw.set("process:data:ohlcv:bad:1.0", "not json")
    with pytest.raises(RegistryError, match="not valid JSON"):
        await cache.get_process("ohlcv:bad:1.0")


def unused_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_unreachable_redis_is_registry_unavailable():
    async with ProcessCache(f"redis://127.0.0.1:{unused_port()}/0") as cache:
        with pytest.raises(RegistryUnavailableError, match="cannot be reached") as info:
            await cache.register_process(ProcessType.OHLCV, COMPONENT)
        assert isinstance(info.value.__cause__, redis.ConnectionError)
        with pytest.raises(RegistryUnavailableError):
            await cache.update_process("ohlcv:x:1.0")


async def test_default_construction_uses_the_configured_redis(wb_settings):
    async with ProcessCache(settings=wb_settings) as cache:
        assert await cache.get_process("ohlcv:surely-not-registered:1.0") is None


async def test_a_client_passed_in_is_not_closed(url):
    async with aioredis.Redis.from_url(url, decode_responses=True) as client:
        async with ProcessCache(client=client) as cache:
            pid = await cache.register_process(ProcessType.ORDER, "orders")
        assert await client.exists(f"process:data:{pid}") == 1


def test_import_leaves_the_event_loop_policy_alone():
    assert type(asyncio.get_event_loop_policy()) is asyncio.DefaultEventLoopPolicy

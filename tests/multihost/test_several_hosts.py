"""Several hosts sharing one Redis and one PostgreSQL, in Linux network namespaces.

The test builds three namespaces of its own on a private /24: ``srv`` holds Redis
(valkey-server, with a password), PostgreSQL and the simulator, bound to its address on a
bridge; hosts ``a`` and ``b`` reach it through veth pairs and nothing else (no route leaves the
three). Each host runs ``ohlcv-workbench collect`` under ``unshare --uts`` with a hostname of
its own, as separate machines have (the leases' "dead holder on this host" shortcut compares
hostnames, and a holder on another machine must be waited out, not taken over at once).

A and B collect overlapping symbol lists: each series is collected by exactly one host, the
other reports it busy naming the holder, and collects the rest. A second collector on B waits
for A's series (``--wait-busy``); A is killed with SIGKILL midway; once A's leases expire, B
takes its series over and completes them. Then every PostgreSQL series equals the simulator's
exactly and A's processes show as stale in the monitor. Skipped, saying why, without root or
``ip netns``; the namespaces are always deleted, also when the test fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ohlcv_workbench.services.postgres_server import PostgresCluster
from ohlcv_workbench.services.redis_server import redis_binary

ROOT = Path(__file__).resolve().parents[2]
SINCE, UNTIL = "2026-08-01", "2026-08-31"  # 30 days of 1m: 43,200 candles, 44 pages each
CANDLES = 43_200
A_SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
B_SYMBOLS = ("ETH/USDT", "SOL/USDT", "XRP/USDT")
ALL = ("BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT")
INTERVAL = "1.0"  # heartbeat seconds: leases last 5 s, processes are stale after 3 s
LATENCY = 0.2  # seconds per simulator answer: a series takes about 9 s, one page at a time

pytestmark = pytest.mark.slow


def _unavailable() -> str | None:
    """Why this machine cannot run the test, or None."""
    if os.geteuid() != 0:
        return "needs root: it creates Linux network namespaces (ip netns) and veth pairs"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"needs {tool!r} (iproute2 / util-linux) on PATH"
    name = f"wbprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        return f"ip netns is unavailable here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return None


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class Host:
    """A collector host: its namespace, hostname and address."""

    name: str
    netns: str
    hostname: str
    address: str


@dataclass
class Network:
    """The namespaces, the shared services' URLs and every process started in them."""

    root: Path
    server: str
    address: str
    hosts: dict[str, Host]
    password: str
    env: dict[str, str] = field(default_factory=dict)
    children: list[subprocess.Popen[str]] = field(default_factory=list)

    def exec_argv(self, netns: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", netns, *argv]

    def spawn(self, netns: str, argv: Sequence[str], log: str) -> subprocess.Popen[str]:
        with open(self.root / f"{log}.log", "w") as out:
            child = subprocess.Popen(
                self.exec_argv(netns, argv), env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            )  # fmt: skip
        self.children.append(child)
        return child

    def probe(self, netns: str, *args: str) -> object:
        """Run the probe in ``netns``; its JSON answer."""
        argv = self.exec_argv(netns, [sys.executable, "-m", "tests.multihost.probe", *args])
        done = subprocess.run(argv, env=self.env, cwd=ROOT, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"probe {args[0]} in {netns} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass
class Collector:
    """``ohlcv-workbench collect`` on a host, with its stderr read as it comes."""

    host: Host
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.lines)


def collect(net: Network, host: Host, symbols: Sequence[str], *extra: str) -> Collector:
    shell = 'hostname "$HOSTNAME_OF_TEST" && exec "$0" "$@"'
    argv = [
        "env",
        f"HOSTNAME_OF_TEST={host.hostname}",
        "unshare",
        "--uts",
        "sh",
        "-c",
        shell,
        sys.executable,
        "-m",
        "ohlcv_workbench",
        "collect",
        "sim",
        *symbols,
        "--since",
        SINCE,
        "--until",
        UNTIL,
        "--concurrency",
        "1",
        "--no-rate-limit",
        *extra,
    ]
    process = subprocess.Popen(
        net.exec_argv(host.netns, argv), env={**net.env, **host_env(net, host)}, cwd=ROOT,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    net.children.append(process)
    collector = Collector(host, process)
    stream = process.stderr
    assert stream is not None
    threading.Thread(target=lambda: collector.lines.extend(iter(stream.readline, "")),
                     daemon=True).start()  # fmt: skip
    return collector


def host_env(net: Network, host: Host) -> dict[str, str]:
    data = net.root / f"data-{host.name}"
    data.mkdir(exist_ok=True)
    return {"OHLCV_WORKBENCH_DATA_DIR": str(data)}


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)


@pytest.fixture
def network() -> Iterator[Network]:
    reason = _unavailable()
    if reason is not None:
        pytest.skip(reason)
    tag = secrets.token_hex(3)
    subnet = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250)}"
    names = {"srv": f"wbs{tag}", "a": f"wba{tag}", "b": f"wbb{tag}"}
    root = Path(tempfile.mkdtemp(prefix="ohlcv-wb-hosts-"))
    made: list[str] = []
    net: Network | None = None
    try:
        for netns in names.values():
            ip("netns", "add", netns)
            made.append(netns)
            ip("-n", netns, "link", "set", "lo", "up")
        srv = names["srv"]
        ip("-n", srv, "link", "add", "br0", "type", "bridge")
        ip("-n", srv, "addr", "add", f"{subnet}.1/24", "dev", "br0")
        ip("-n", srv, "link", "set", "br0", "up")
        hosts = {}
        for octet, name in enumerate(("a", "b"), start=2):
            netns = names[name]
            ip("-n", srv, "link", "add", f"v{name}", "type", "veth", "peer", "name", "eth0",
               "netns", netns)  # fmt: skip
            ip("-n", srv, "link", "set", f"v{name}", "master", "br0", "up")
            ip("-n", netns, "addr", "add", f"{subnet}.{octet}/24", "dev", "eth0")
            ip("-n", netns, "link", "set", "eth0", "up")
            hosts[name] = Host(name, netns, f"wb-{name}-{tag}", f"{subnet}.{octet}")
        password = secrets.token_hex(16)
        net = Network(root, srv, f"{subnet}.1", hosts, password)
        prefix = "OHLCV_WORKBENCH_"
        net.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(prefix)},
            f"{prefix}REDIS_URL": f"redis://:{password}@{net.address}:6379/0",
            f"{prefix}STORE_URL": f"postgresql://postgres:{password}@{net.address}:5432/ohlcv",
            f"{prefix}SIM_URL": f"http://{net.address}:8765",
            f"{prefix}HEARTBEAT_INTERVAL": INTERVAL,
            f"{prefix}DATA_DIR": str(root / "data-probe"),
            "PYTHONUNBUFFERED": "1",
        }
        (root / "redis").mkdir()
        net.spawn(srv, [str(redis_binary()), "--bind", net.address, "--port", "6379",
                        "--requirepass", password, "--save", "", "--appendonly", "no",
                        "--dir", str(root / "redis")], "redis")  # fmt: skip
        net.spawn(srv, [sys.executable, "-m", "ohlcv_workbench", "sim", "--host", net.address,
                        "--port", "8765", "--weight-limit", "0"], "sim")  # fmt: skip
        net.probe(srv, "postgres", str(root / "pgdata"), str(root / "postgres.log"), password,
                  net.address, "5432")  # fmt: skip
        for host in hosts.values():
            assert net.probe(host.netns, "ready") == {"ready": True}
        yield net
    finally:
        if net is not None:
            for child in net.children:
                kill_group(child)
        with contextlib.suppress(Exception):
            PostgresCluster(root / "pgdata", root / "postgres.log").stop()
        for netns in made:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def busy_line(collector: Collector, symbol: str) -> str | None:
    for line in collector.lines:
        if line.startswith(f"ohlcv-workbench: busy: sim {symbol} 1m "):
            return line
    return None


def test_two_hosts_share_the_series_and_one_takes_over_when_the_other_dies(network):
    net = network
    a_host, b_host = net.hosts["a"], net.hosts["b"]
    net.probe(a_host.netns, "faults", json.dumps({"latency": LATENCY}))
    a = collect(net, a_host, A_SYMBOLS)
    b = collect(net, b_host, B_SYMBOLS)

    def started(c: Collector) -> bool:  # its first progress lines come after the busy report
        return any(re.match(r"\S+/\S+ 1m \[", line) for line in c.lines)

    wait_for(lambda: started(a) and started(b), 90, "both hosts to start collecting")
    # each shared series is collected by exactly one host; the other names it busy
    held = {"a": {"BTC/USDT"}, "b": {"XRP/USDT"}}
    for symbol in ("ETH/USDT", "SOL/USDT"):
        reports = {"a": busy_line(a, symbol), "b": busy_line(b, symbol)}
        assert sum(r is not None for r in reports.values()) == 1, (reports, a.text, b.text)
        loser = "a" if reports["a"] else "b"
        winner = "b" if loser == "a" else "a"
        assert f" on {net.hosts[winner].hostname}, since " in str(reports[loser])
        assert "collecting the others" in str(reports[loser])
        held[winner].add(symbol)
    assert busy_line(a, "BTC/USDT") is None and busy_line(b, "XRP/USDT") is None
    # A's series slow to a crawl from now on, so A is surely midway when it dies below
    crawl = {"latency": 5.0, "symbols": sorted(held["a"])}
    net.probe(a_host.netns, "faults", json.dumps(crawl))

    # a second collector on B waits for A's series; then A dies midway
    b2 = collect(net, b_host, sorted(held["a"]), "--wait-busy")
    for symbol in held["a"]:
        wait_for(lambda s=symbol: busy_line(b2, s) is not None, 90, f"B to wait for {symbol}")
        assert f" on {a_host.hostname}, since " in str(busy_line(b2, symbol))
        assert "waiting for it" in str(busy_line(b2, symbol))

    def progress() -> dict[str, int]:
        answer = net.probe(b_host.netns, "counts", *ALL)
        assert isinstance(answer, dict)
        return answer

    wait_for(lambda: progress()["BTC/USDT"] >= 1000, 120, "A's backfill to get under way")
    assert a.process.poll() is None, a.text
    kill_group(a.process)  # kill -9 of host A, every process of it
    at_kill = progress()
    assert a.process.returncode == -signal.SIGKILL
    assert 0 < at_kill["BTC/USDT"] < CANDLES, "not midway"
    net.probe(a_host.netns, "faults", json.dumps({"latency": 0.05}))  # B takes over at pace

    assert b.process.wait(180) == 0, b.text
    assert b2.process.wait(180) == 0, b2.text
    for symbol in held["a"]:
        assert f"ohlcv-workbench: took over sim {symbol} 1m" in b2.text
    for symbol in held["b"]:
        assert f"{symbol} 1m [stopped] Collected" in b.text

    # the final PostgreSQL series equal the simulator's: no gap, no duplicate
    net.probe(b_host.netns, "faults", "{}")  # the simulator answers at once again
    compared = net.probe(b_host.netns, "compare", SINCE, UNTIL, *ALL)
    assert isinstance(compared, dict)
    for symbol in ALL:
        assert compared[symbol] == {"rows": CANDLES, "expected": CANDLES, "equal": True,
                                    "gaps": 0, "unique": True}, symbol  # fmt: skip

    # A's processes (its daemon and the collectors it ran) show as stale in the monitor
    records = net.probe(b_host.netns, "processes")
    assert isinstance(records, list)
    of_a = [r for r in records if r["pid"] == a.process.pid]
    components = {r["component"] for r in of_a}
    assert components == {"ohlcv_daemon", *(f"ohlcv.sim.{s}" for s in held["a"])}
    assert all(r["active"] and r["stale"] for r in of_a), of_a
    others = [r for r in records if r["pid"] != a.process.pid]
    assert others and all(not r["stale"] and r["status"] == "stopped" for r in others), others

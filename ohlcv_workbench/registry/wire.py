"""The Redis wire layer of the registry: client, error translation, replies, Lua scripts.

Each registry operation is one EVALSHA (one round trip). Process records are edited as JSON
*text*: a small scanner finds the raw span of every member and the record is rebuilt from the
spans, so untouched values keep their exact bytes. Lua's cjson is only used to decode key names
and short strings, because re-encoding with it would round numbers to 14 digits, turn ``[]``
into ``{}`` and escape ``/`` (valkey has no ``decode_array_with_array_mt``). The output uses
Python's default separators, so a record written by ``json.dumps`` stays byte-identical to
``json.dumps`` of the updated dict.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError as RedisAuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ohlcv_workbench.errors import RegistryError, RegistryUnavailableError

from .keys import ACTIVE_PREFIX, DATA_PREFIX

__all__ = [
    "ACQUIRE_LEASE",
    "BEAT",
    "REBIND_LEASE",
    "RELEASE_LEASE",
    "RENEW_LEASE",
    "STOP",
    "UPDATE",
    "WRITE",
    "LuaScript",
    "decode_record",
    "make_client",
    "registry_errors",
    "text",
]

CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0


def make_client(url: str) -> aioredis.Redis:
    """An asyncio Redis client without health-check PINGs that fails fast when Redis is down."""
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        health_check_interval=0,
        socket_connect_timeout=CONNECT_TIMEOUT,
        socket_timeout=COMMAND_TIMEOUT,
        retry=Retry(NoBackoff(), 1),  # one immediate retry: a pooled connection may be stale
    )


@contextlib.contextmanager
def registry_errors(action: str) -> Iterator[None]:
    """Translate redis-py errors into RegistryUnavailableError / RegistryError (cause chained).

    A refused password is a RegistryError that says so (redis-py files it under connection
    errors, but it is no outage: waiting will not fix it).
    """
    try:
        yield
    except RedisAuthenticationError as exc:
        raise RegistryError(
            f"Redis refused the credentials while {action} ({exc}): check the password in "
            "OHLCV_WORKBENCH_REDIS_URL or REDIS_PASSWORD"
        ) from exc
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise RegistryUnavailableError(f"Redis cannot be reached while {action}: {exc}") from exc
    except RedisError as exc:
        raise RegistryError(f"Redis failed while {action}: {exc}") from exc


def text(value: Any) -> str:
    """A Redis reply as str (clients may or may not decode responses)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def decode_record(process_id: str, raw: Any) -> dict[str, Any]:
    """A record's JSON as a dict; RegistryError when it is not a JSON object."""
    try:
        record = json.loads(raw)
    except ValueError as exc:
        raise RegistryError(f"record of process {process_id!r} is not valid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise RegistryError(f"record of process {process_id!r} is not a JSON object")
    return record


class LuaScript:
    """A Lua script run with EVALSHA, falling back to EVAL (which caches it) when unknown."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def __call__(
        self, client: aioredis.Redis, keys: Sequence[str], args: Sequence[str | int | float]
    ) -> Any:
        """Run the script; one round trip once the server has cached it."""
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)


#: the active hashes are named by the record's type, and the records a script looks up by
#: their ids, known only inside the script, so these prefixes are constants of the scripts
#: (from :mod:`.keys`)
_KEYS_LUA = (
    f"local ACTIVE_PREFIX = {json.dumps(ACTIVE_PREFIX)}\n"
    f"local DATA_PREFIX = {json.dumps(DATA_PREFIX)}\n"
)

_JSON_SPLICE = r"""
local function skip_ws(s, i)
  return string.find(s, '[^ \t\r\n]', i) or (#s + 1)
end
local function string_end(s, i)
  local j = i + 1
  while true do
    local q = string.find(s, '["\\]', j)
    if not q then error('malformed JSON: unterminated string') end
    if string.byte(s, q) == 34 then return q + 1 end
    j = q + 2
  end
end
local function value_end(s, i)
  local c = string.sub(s, i, i)
  if c == '"' then return string_end(s, i) end
  if c == '{' or c == '[' then
    local depth, j = 0, i
    while true do
      local p = string.find(s, '[%[%]{}"]', j)
      if not p then error('malformed JSON: unbalanced brackets') end
      local b = string.sub(s, p, p)
      if b == '"' then
        j = string_end(s, p)
      else
        if b == '{' or b == '[' then depth = depth + 1 else depth = depth - 1 end
        j = p + 1
        if depth == 0 then return j end
      end
    end
  end
  local p = string.find(s, '[,}%]%s]', i)
  if not p or p == i then error('malformed JSON: bad value') end
  return p
end
-- the members of a JSON object text, as a list of {raw key, raw value}
local function members(s)
  local out = {}
  local i = skip_ws(s, 1)
  if string.sub(s, i, i) ~= '{' then error('malformed JSON: not an object') end
  i = skip_ws(s, i + 1)
  if string.sub(s, i, i) == '}' then return out end
  while true do
    if string.sub(s, i, i) ~= '"' then error('malformed JSON: bad key') end
    local ke = string_end(s, i)
    local key = string.sub(s, i, ke - 1)
    i = skip_ws(s, ke)
    if string.sub(s, i, i) ~= ':' then error('malformed JSON: missing colon') end
    i = skip_ws(s, i + 1)
    local ve = value_end(s, i)
    out[#out + 1] = {key, string.sub(s, i, ve - 1)}
    i = skip_ws(s, ve)
    local c = string.sub(s, i, i)
    if c == '}' then return out end
    if c ~= ',' then error('malformed JSON: expected , or }') end
    i = skip_ws(s, i + 1)
  end
end
local function join(list)
  local parts = {}
  for n, kv in ipairs(list) do parts[n] = kv[1] .. ': ' .. kv[2] end
  return '{' .. table.concat(parts, ', ') .. '}'
end
local function find(list, key_json)
  for n, kv in ipairs(list) do
    if kv[1] == key_json or cjson.decode(kv[1]) == cjson.decode(key_json) then return n end
  end
  return nil
end
local function put(list, key_json, value_json)
  local n = find(list, key_json)
  if n then list[n][2] = value_json else list[#list + 1] = {key_json, value_json} end
end
local function get_string(list, key_json)
  local n = find(list, key_json)
  if not n then return nil end
  local ok, v = pcall(cjson.decode, list[n][2])
  if ok and type(v) == 'string' then return v end
  return nil
end
"""

# update_record(key, A, o): A[o+1]=process_id, A[o+2]=now, A[o+3]=now as JSON,
# A[o+4]='1' to set the heartbeat, A[o+5]=status JSON or '', A[o+6]=message JSON or '',
# A[o+7]=ttl, then (key JSON, value JSON) pairs merged into params (dict.update).
# Returns the record's members, or nil when there is no record.
_UPDATE_RECORD = r"""
local function update_record(key, A, o)
  local raw = redis.call('GET', key)
  if not raw then return nil end
  local rec = members(raw)
  put(rec, '"updated_at"', A[o + 3])
  if A[o + 4] == '1' then put(rec, '"heartbeat"', A[o + 3]) end
  if A[o + 5] ~= '' then put(rec, '"status"', A[o + 5]) end
  if A[o + 6] ~= '' then put(rec, '"message"', A[o + 6]) end
  if #A > o + 7 then
    local n = find(rec, '"params"')
    local params = {}
    if n and string.sub(rec[n][2], 1, 1) == '{' then params = members(rec[n][2]) end
    for i = o + 8, #A, 2 do put(params, A[i], A[i + 1]) end
    put(rec, '"params"', join(params))
  end
  redis.call('SET', key, join(rec), 'EX', A[o + 7])
  -- the active hash is named by the record's type, so it cannot be passed in KEYS
  local ptype = get_string(rec, '"process_type"')
  if ptype then redis.call('HSET', ACTIVE_PREFIX .. ptype, A[o + 1], A[o + 2]) end
  return rec
end
"""

# lease_keep(key, value, ttl_ms): 1 renewed, 2 taken again because it had expired, 0 held by
# someone else.
_LEASE_KEEP = r"""
local function lease_keep(key, value, ttl_ms)
  local current = redis.call('GET', key)
  if current == value then
    redis.call('PEXPIRE', key, ttl_ms)
    return 1
  end
  if not current then
    redis.call('SET', key, value, 'PX', ttl_ms)
    return 2
  end
  return 0
end
"""

UPDATE = LuaScript(
    _KEYS_LUA
    + _JSON_SPLICE
    + _UPDATE_RECORD
    + "if update_record(KEYS[1], ARGV, 0) then return 1 end\nreturn 0\n"
)

# heir(ptype, component): the active process of the same type and component seen last (the
# active hash holds the time of each one's last register/update), or nil. Ids are
# "{type}:{component}:{stamp}"; components may hold ':', so the record's component decides.
_HEIR = r"""
local function heir(ptype, component)
  local prefix = ptype .. ':' .. component .. ':'
  local active = redis.call('HGETALL', ACTIVE_PREFIX .. ptype)
  local best, best_seen = nil, nil
  for i = 1, #active, 2 do
    local id, seen = active[i], active[i + 1]
    if string.sub(id, 1, #prefix) == prefix and (best_seen == nil or seen > best_seen) then
      local raw = redis.call('GET', DATA_PREFIX .. id)
      if raw then
        local ok, rec = pcall(members, raw)
        if ok and get_string(rec, '"component"') == component then best, best_seen = id, seen end
      end
    end
  end
  return best
end
"""

# KEYS: data, components; ARGV as update_record. Also drops the process from the active hash;
# while the component index points to this process, it passes to the component's other live
# process seen last (several daemons share one component), or is dropped when there is none.
STOP = LuaScript(
    _KEYS_LUA
    + _JSON_SPLICE
    + _UPDATE_RECORD
    + _HEIR
    + r"""
local rec = update_record(KEYS[1], ARGV, 0)
if not rec then return 0 end
local ptype = get_string(rec, '"process_type"')
if ptype then redis.call('HDEL', ACTIVE_PREFIX .. ptype, ARGV[1]) end
local component = get_string(rec, '"component"')
if component and redis.call('HGET', KEYS[2], component) == ARGV[1] then
  local next_id = ptype and heir(ptype, component)
  if next_id then
    redis.call('HSET', KEYS[2], component, next_id)
  else
    redis.call('HDEL', KEYS[2], component)
  end
end
return 1
"""
)

# KEYS: data, active hash, components; ARGV: record JSON, ttl, process_id, active time,
# component, '1' to set the component index only when free (restore) or '0' (register).
# Writes nothing and returns 0 when the record exists.
WRITE = LuaScript(r"""
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
if ARGV[6] == '1' then
  redis.call('HSETNX', KEYS[3], ARGV[5], ARGV[3])
else
  redis.call('HSET', KEYS[3], ARGV[5], ARGV[3])
end
return 1
""")

# A heartbeat. KEYS: data, stop request, [lease]; ARGV[1]=lease value, ARGV[2]=lease ttl ms,
# then update_record's arguments. Returns {updated 0|1, stop requested 0|1, lease -1|0|1|2}.
BEAT = LuaScript(
    _KEYS_LUA
    + _JSON_SPLICE
    + _UPDATE_RECORD
    + _LEASE_KEEP
    + r"""
local updated = 0
if update_record(KEYS[1], ARGV, 2) then updated = 1 end
local lease = -1
if KEYS[3] then lease = lease_keep(KEYS[3], ARGV[1], ARGV[2]) end
return {updated, redis.call('EXISTS', KEYS[2]), lease}
"""
)

# KEYS: lease; ARGV: value, ttl ms, value of a dead holder to replace ('' for none).
# Returns {1 | 0, current value}: 1 when the lease is (now) ours.
ACQUIRE_LEASE = LuaScript(r"""
local current = redis.call('GET', KEYS[1])
if not current or current == ARGV[1] or (ARGV[3] ~= '' and current == ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, ARGV[1]}
end
return {0, current}
""")

RENEW_LEASE = LuaScript(r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
""")

RELEASE_LEASE = LuaScript(r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")

# ARGV: old value, new value; keeps the expiry.
REBIND_LEASE = LuaScript(r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
""")

"""The Lua scripts of the Redis back-end: leases, fenced stores, invalidation, the byte ledger.

Each script runs atomically on the one Redis. The ledger keeps what the cache
holds within ``cache.max_entries``, ``cache.max_not_found`` and ``cache.max_bytes``
(key names in `gateway.cache.redis.backend`):

- ``z:size`` a hash, cache key → the bytes it was counted for;
- ``z:a`` and ``z:n`` answers and 404s, each a sorted set scored by the Redis
  time (ms) at which the entry expires;
- ``z:bytes`` the sum of ``z:size``.

Eviction takes the entry nearest its expiry first (404s before any answer),
so reads stay one ``GET``: an LRU would need a write on every hit. Members
whose entries expired are forgotten on the next store. Invalidations publish
the keys they drop on the near-cache channel, so every process can drop its
near copies (`gateway.cache.redis.near`).
"""

from __future__ import annotations

from redis.asyncio import Redis

# Shared by the scripts that store or drop entries; each sets S, A, N, B first.
_LEDGER = """
local S, A, N, B
local function forget(key)
  local size = redis.call('HGET', S, key)
  if size then
    redis.call('HDEL', S, key)
    redis.call('DECRBY', B, size)
  end
  redis.call('ZREM', A, key)
  redis.call('ZREM', N, key)
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# KEYS: lock, entry, count, epoch, then one fence per tag. ARGV: token, lock ms.
# Returns {acquired, entry, count, epoch, fence...}; '' stands for a missing key
# (and for the entry when the lock was not taken).
ACQUIRE = """
local seen = {}
for i = 3, #KEYS do
  seen[#seen + 1] = redis.call('GET', KEYS[i]) or ''
end
local acquired = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
local entry = ''
if acquired then
  entry = redis.call('GET', KEYS[2]) or ''
end
return {acquired and 1 or 0, entry, unpack(seen)}
"""

# KEYS: entry, lock, count, epoch, size hash, answers, 404s, byte total, then
# (tag set, tag fence) per tag. ARGV: value, entry ms, token, key, size, group
# ('a' or 'n'), max entries, max 404s, max bytes, entry prefix, then the count,
# epoch and fences seen. Stores only if no fence moved since the lease was taken;
# files the key under its tags; evicts to stay within the bounds.
# Returns {stored, entries evicted}.
STORE = (
    _LEDGER
    + """
S, A, N, B = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local same = true
for i = 3, 4 do
  if (redis.call('GET', KEYS[i]) or '') ~= ARGV[i + 8] then same = false end
end
local tags = (#KEYS - 8) / 2
for t = 1, tags do
  if (redis.call('GET', KEYS[8 + 2 * t]) or '') ~= ARGV[12 + t] then same = false end
end
local evicted = 0
local function evict(set)
  local popped = redis.call('ZPOPMIN', set)
  if #popped == 0 then return false end
  redis.call('UNLINK', ARGV[10] .. popped[1])
  forget(popped[1])
  evicted = evicted + 1
  return true
end
local size, most = tonumber(ARGV[5]), tonumber(ARGV[9])
if same then
  local now = now_ms()
  for _, set in ipairs({A, N}) do
    for _, key in ipairs(redis.call('ZRANGEBYSCORE', set, '-inf', now, 'LIMIT', 0, 100)) do
      forget(key)
    end
  end
  forget(ARGV[4])
  if size > most then
    redis.call('UNLINK', KEYS[1])
    same = false
  end
end
if same then
  local px = tonumber(ARGV[2])
  local mine, limit = A, tonumber(ARGV[7])
  if ARGV[6] == 'n' then mine, limit = N, tonumber(ARGV[8]) end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', px)
  redis.call('ZADD', mine, now_ms() + px, ARGV[4])
  redis.call('HSET', S, ARGV[4], size)
  redis.call('INCRBY', B, size)
  for t = 1, tags do
    local set = KEYS[7 + 2 * t]
    redis.call('SADD', set, ARGV[4])
    if redis.call('PTTL', set) < px then redis.call('PEXPIRE', set, px) end
  end
  while redis.call('ZCARD', mine) > limit do evict(mine) end
  while tonumber(redis.call('GET', B) or '0') > most do
    if not evict(N) and not (mine == A and evict(A)) then break end
  end
end
if redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
end
return {same and 1 or 0, evicted}
"""
)

# KEYS: lock. ARGV: token, lock ms ('' to delete instead of renewing).
RENEW_OR_FREE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  return redis.call('DEL', KEYS[1])
end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""

# KEYS: size hash, answers, 404s, byte total, then (entry, lock, count) per key.
# ARGV: count ms, near channel, then the cache keys.
INVALIDATE = (
    _LEDGER
    + """
S, A, N, B = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
for i = 5, #KEYS, 3 do
  redis.call('UNLINK', KEYS[i], KEYS[i + 1])
  redis.call('INCR', KEYS[i + 2])
  redis.call('PEXPIRE', KEYS[i + 2], ARGV[1])
end
local keys = {}
for i = 3, #ARGV do
  forget(ARGV[i])
  keys[#keys + 1] = ARGV[i]
end
redis.call('PUBLISH', ARGV[2], 'k\\n' .. table.concat(keys, '\\n'))
return 1
"""
)

# KEYS: size hash, answers, 404s, byte total, then (tag set, tag fence) per tag.
# ARGV: fence ms, entry prefix, lock prefix, near channel.
# Drops every entry filed under the tags (and its load lock), then moves the
# tags' fences so a load that read the old answer cannot store it.
# Returns the cache keys dropped.
INVALIDATE_TAGS = (
    _LEDGER
    + """
S, A, N, B = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local dropped = {}
for i = 5, #KEYS, 2 do
  for _, key in ipairs(redis.call('SMEMBERS', KEYS[i])) do
    redis.call('UNLINK', ARGV[2] .. key, ARGV[3] .. key)
    forget(key)
    dropped[#dropped + 1] = key
  end
  redis.call('UNLINK', KEYS[i])
  redis.call('INCR', KEYS[i + 1])
  redis.call('PEXPIRE', KEYS[i + 1], ARGV[1])
end
if #dropped > 0 then
  redis.call('PUBLISH', ARGV[4], 'k\\n' .. table.concat(dropped, '\\n'))
end
return dropped
"""
)


class Scripts:
    """The Lua scripts of the backend, registered once (redis-py reloads them after a restart)."""

    def __init__(self, client: Redis) -> None:
        self.acquire = client.register_script(ACQUIRE)
        self.store = client.register_script(STORE)
        self.renew_or_free = client.register_script(RENEW_OR_FREE)
        self.invalidate = client.register_script(INVALIDATE)
        self.invalidate_tags = client.register_script(INVALIDATE_TAGS)

"""The Lua scripts that hold one shared limit, and the Redis keys they use.

Both scripts run atomically on the Redis server and read its clock
(``TIME``), so the workers' clocks never matter. Times are microseconds of
that clock.

Keys. A limit named ``KEY`` lives in ``{KEY}`` (its GCRA state),
``{KEY}:pause`` (the shared pause) and, with ``rate="auto"``, ``{KEY}:auto``
(the limit the processes learned) and ``{KEY}:grants`` (a minute of grants,
counted in 10 ms buckets). The braces are a Redis Cluster hash tag:
keys with the same tag live in the same slot, so one script may touch both,
on a Redis Cluster as on a single Redis or Valkey. A ``KEY`` that already
holds a hash tag (a ``{...}`` with something between the braces, as Redis
Cluster defines it: the first ``{`` and the first ``}`` after it) is used as
given, and its pause is ``KEY:pause``, which has the same tag.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = [
    "ACQUIRE_SCRIPT",
    "COUNTS_SUFFIX",
    "COUNT_SCRIPT",
    "FLEET_SCRIPT",
    "FLEET_SUFFIX",
    "PAUSE_SCRIPT",
    "Answer",
    "limit_keys",
    "read_answer",
]

# GCRA with a reserve, behind the shared pause.
#
# KEYS[1]  the limit's state: its "theoretical arrival time" (TAT), the
#          instant at which the bucket will be full again
# KEYS[2]  the shared pause: "<until> <spread>" (see PAUSE_SCRIPT)
# ARGV[1]  the interval between requests at the rate (sent with every call,
#          so the rate may change while the limit is in use)
# ARGV[2]  the burst
# ARGV[3]  intervals of capacity that must remain after this request: the
#          reserve for a bulk request, 0 for an interactive one
# ARGV[4]  present with rate="auto": count the grant in KEYS[3] (see COUNT_SCRIPT)
# Returns  {wait, paused, spread}: wait 0 means granted (and counted); else
#          the time to wait before asking again, nothing counted. paused is 1
#          when the wait is a shared pause, whose stagger bound is spread.
ACQUIRE_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local pause_until, spread = string.match(redis.call('GET', KEYS[2]) or '', '^(%d+) (%d+)$')
if pause_until and tonumber(pause_until) > now then
  return {math.ceil(tonumber(pause_until) - now), 1, tonumber(spread)}
end
local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local usable = capacity - interval * tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
elseif tat > now + capacity then
  -- Only if the server's clock stepped back (or a slower limit shares the
  -- key): never make anyone wait longer than one full burst takes to refill.
  tat = now + capacity
end
local wait = tat + interval - usable - now
if wait > 0 then
  return {math.ceil(wait), 0, 0}
end
tat = tat + interval
-- The key expires when the bucket is full again: an idle limit leaves nothing behind.
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
if ARGV[4] then
  -- rate="auto": count the grants in 10 ms buckets, a minute of them, for the learners.
  local bucket = math.floor(now / 10000)
  redis.call('HINCRBY', KEYS[3], bucket, 1)
  redis.call('PEXPIRE', KEYS[3], 60000)
  if redis.call('HLEN', KEYS[3]) > 6500 then
    for _, old in ipairs(redis.call('HKEYS', KEYS[3])) do
      if tonumber(old) < bucket - 6000 then redis.call('HDEL', KEYS[3], old) end
    end
  end
end
return {0, 0, 0}
"""

# The shared pause: every acquire on the limit waits until it ends. The later
# deadline wins, so a shorter pause never cuts a longer one short.
#
# KEYS[1]  the shared pause
# ARGV[1]  how long to pause, from now
# ARGV[2]  the spread: bulk waiters leave at random over this long after the end
# Returns  {remaining, spread} of the pause now in force.
PAUSE_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local pause_until = now + tonumber(ARGV[1])
local spread = tonumber(ARGV[2])
local current_until, current_spread = string.match(redis.call('GET', KEYS[1]) or '', '^(%d+) (%d+)$')
if current_until and tonumber(current_until) >= pause_until then
  return {math.ceil(tonumber(current_until) - now), tonumber(current_spread)}
end
redis.call('SET', KEYS[1], string.format('%.0f %.0f', pause_until, spread),
  'PX', math.max(1, math.ceil((pause_until - now) / 1000)))
return {math.ceil(pause_until - now), spread}
"""

# rate="auto": how many requests the fleet let go in a stretch of the recent past.
#
# KEYS[1]  the grants, a hash: 10 ms bucket of the server's clock -> count
# ARGV[1]  the stretch's start, microseconds before now
# ARGV[2]  its end, microseconds before now
# Returns  the grants in the buckets of that stretch.
COUNT_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local first = math.floor((now - tonumber(ARGV[1])) / 10000)
local last = math.floor((now - tonumber(ARGV[2])) / 10000)
local fields = {}
for bucket = first + 1, last do fields[#fields + 1] = bucket end
if #fields == 0 then return 0 end
local total = 0
for _, count in ipairs(redis.call('HMGET', KEYS[1], unpack(fields))) do
  if count then total = total + tonumber(count) end
end
return total
"""

# rate="auto": the limit the processes on the key learned.
#
# KEYS[1]  a hash: "learned" ("<limit> <mode> <seconds>": requests per second,
#          "bucket" or "window", the window's length), "version" (bumped
#          at each new "learned") and "at" (when, on the server's clock)
# ARGV[1]  a limit just learned ("<limit> <mode> <seconds>"), or "" to read
# ARGV[2]  with ARGV[1]: microseconds before now that the refused request it
#          was learned from was sent. A limit published since then was learned
#          from the same full window (this 429 is its echo): it stands.
# Returns  {learned, version, taken}: taken is 1 when ARGV[1] became the
#          limit. The hash expires after ten idle minutes.
FLEET_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local taken = 0
if ARGV[1] ~= '' then
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
  local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '0')
  if at <= now - tonumber(ARGV[2]) then
    redis.call('HSET', KEYS[1], 'learned', ARGV[1], 'at', string.format('%.0f', now))
    redis.call('HINCRBY', KEYS[1], 'version', 1)
    taken = 1
  end
end
redis.call('PEXPIRE', KEYS[1], 600000)
return {redis.call('HGET', KEYS[1], 'learned') or '', tonumber(redis.call('HGET', KEYS[1], 'version') or '0'), taken}
"""

PAUSE_SUFFIX = ":pause"
FLEET_SUFFIX = ":auto"
COUNTS_SUFFIX = ":grants"


def limit_keys(key: str) -> tuple[str, str]:
    """The Redis keys of the limit named ``key``: its state and its pause, one hash tag."""
    opening = key.find("{")
    tagged = opening != -1 and key.find("}", opening + 1) > opening + 1
    base = key if tagged else "{" + key + "}"  # a tag the user chose is kept
    return base, base + PAUSE_SUFFIX


class Answer(NamedTuple):
    """What ``ACQUIRE_SCRIPT`` said, in seconds."""

    wait: float
    """0 when the request may go, else how long to wait before asking again."""
    paused: bool
    """Whether the wait is a shared pause."""
    spread: float
    """For a pause: bulk waiters leave at random over this long after it ends."""


def read_answer(reply: Any) -> Answer:
    """An ``Answer`` from the script's reply (a list of three integers)."""
    wait, paused, spread = reply
    return Answer(int(wait) / 1_000_000, bool(int(paused)), int(spread) / 1_000_000)

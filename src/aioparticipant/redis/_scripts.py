"""The Lua scripts that hold one shared limit, and the Redis keys they use.

Every script runs atomically on the Redis server and reads its clock
(``TIME``), so the workers' clocks never matter. Times are microseconds of
that clock.

Keys. A limit named ``KEY`` lives in ``{KEY}`` (its GCRA state),
``{KEY}:pause`` (the shared pause) and, with ``rate="auto"``, ``{KEY}:auto``
(the limit the processes learned), ``{KEY}:log`` (a minute of grants, each
at its time, for counting), ``{KEY}:refused`` (a minute of the grants whose
requests the server refused) and ``{KEY}:window`` (the fleet's log of the
server's window: each grant while in flight, then at its answer's time, or
out if refused). The braces are a Redis Cluster hash tag: keys with the same
tag live in the same slot, so one script may touch several, on a Redis
Cluster as on a single Redis or Valkey. A ``KEY`` that already holds a hash
tag (a ``{...}`` with something between the braces, as Redis Cluster defines
it: the first ``{`` and the first ``}`` after it) is used as given, and its
pause is ``KEY:pause``, which has the same tag.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = [
    "ACQUIRE_SCRIPT",
    "COUNT_SCRIPT",
    "FLEET_SCRIPT",
    "FLEET_SUFFIX",
    "LOG_SUFFIX",
    "PAUSE_SCRIPT",
    "REFUSED_SUFFIX",
    "REFUSE_SCRIPT",
    "WINDOW_SUFFIX",
    "Answer",
    "limit_keys",
    "read_answer",
    "text",
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
# ARGV[4]  present with rate="auto": the learned window's size in requests
#          (0 while this process knows none: then the one the fleet learned,
#          in KEYS[4], see FLEET_SCRIPT), and every grant is logged in
#          KEYS[3], a sorted set scored by its time (see COUNT_SCRIPT), and
#          in KEYS[5], the fleet's log of the server's window
# ARGV[5]  with ARGV[4]: the window's span (with 0: its least slack, and
#          ARGV[6] its slack as a share of the window's length). No grant
#          while KEYS[5] holds the window's size within the span: the burst
#          that filled a window is never repeated when it slides, whatever
#          the pace, and a process that has not heard of the limit yet keeps it.
# ARGV[7]  with ARGV[4]: how long a grant may be in flight (see ARGV[8..)
# ARGV[8.. with ARGV[4]: answers since this process last asked, in pairs: a
#          grant's member in KEYS[5] and its answer's time, or "-" for a 429.
#          A grant is in the window while it is in flight (for ARGV[7] at
#          most: a process that sends nothing more reports no answer), then
#          from its answer's time (the server counted it by then, however
#          late after its grant it got there); a refused one leaves it.
# Returns  {wait, paused, spread}: wait 0 means granted (and logged); else
#          the time to wait before asking again, nothing logged. paused is 1
#          when the wait is a shared pause, whose stagger bound is spread.
#          With ARGV[4], a grant returns its time (its score in the logs) and
#          its member too, and while no window is known (first contact) the
#          fleet's grants so far (a minute of them; else -1).
ACQUIRE_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
if ARGV[4] then
  for index = 8, #ARGV - 1, 2 do
    if ARGV[index + 1] == '-' then
      redis.call('ZREM', KEYS[5], ARGV[index])
    else
      redis.call('ZADD', KEYS[5], ARGV[index + 1], ARGV[index])
    end
  end
end
local pause_until, spread = string.match(redis.call('GET', KEYS[2]) or '', '^(%d+) (%d+)$')
if pause_until and tonumber(pause_until) > now then
  return {math.ceil(tonumber(pause_until) - now), 1, tonumber(spread)}
end
local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local usable = capacity - interval * tonumber(ARGV[3])
local function keep(tat)  -- the key expires when the bucket is full again
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
end
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
elseif tat > now + capacity then
  -- The clock stepped back, or grants at a slower rate (a pace that has
  -- risen since) left it: never make anyone wait longer than one full burst
  -- takes to refill at the rate asked for, and keep that, so the wait given is
  -- the wait.
  tat = now + capacity
  keep(tat)
end
local wait = tat + interval - usable - now
if wait > 0 then
  return {math.ceil(wait), 0, 0}
end
tat = tat + interval
local first_contact = false
if ARGV[4] then
  -- rate="auto": the learned window kept, and a minute of grants for the learners.
  local size, span = tonumber(ARGV[4]), tonumber(ARGV[5])
  if size < 1 then
    local limit, seconds = string.match(redis.call('HGET', KEYS[4], 'learned') or '', '^(%S+) %S+ (%S+)$')
    if limit then
      local length = tonumber(seconds) * 1000000
      size = tonumber(limit) * tonumber(seconds)
      span = length + math.max(span, length * tonumber(ARGV[6] or '0'))
    end
  end
  size = math.floor(size + 1e-6)
  first_contact = size < 1
  if size >= 1 then
    local since = string.format('(%.0f', now - span)
    local held = redis.call('ZCOUNT', KEYS[5], since, '+inf')
    if held >= size then
      -- Full: wait until enough of the window's oldest grants have left it
      -- (or, if it is still in flight, a moment: its answer may come at any time).
      local leaving = redis.call('ZRANGEBYSCORE', KEYS[5], since, '+inf', 'WITHSCORES', 'LIMIT', held - size, 1)
      local at = tonumber(leaving[2])
      if at > now then return {10000, 0, 0} end
      return {math.max(1, math.ceil(at + span - now)), 0, 0}
    end
  end
  -- The member is the new TAT: it grows with every grant, so each is logged once.
  -- In the window log a request in flight is in the window until its answer
  -- is logged (or ARGV[7] has passed).
  local member = string.format('%.0f', tat)
  local function log_grant(log, score)  -- a minute of it kept
    redis.call('ZREMRANGEBYSCORE', log, '-inf', string.format('(%.0f', now - 60000000))
    redis.call('ZADD', log, string.format('%.0f', score), member)
    redis.call('PEXPIRE', log, 60000)
  end
  log_grant(KEYS[3], now)
  log_grant(KEYS[5], now + tonumber(ARGV[7]))
end
keep(tat)  -- an idle limit leaves nothing behind
if ARGV[4] then
  local granted = first_contact and redis.call('ZCARD', KEYS[3]) or -1
  return {0, 0, 0, now, string.format('%.0f', tat), granted}
end
return {0, 0, 0}
"""

# The shared pause: every acquire on the limit waits until it ends. The later
# deadline wins, so a shorter pause never cuts a longer one short.
#
# KEYS[1]  the shared pause
# KEYS[2]  with rate="auto": the limit's state (see ACQUIRE_SCRIPT) ...
# ARGV[1]  how long to pause, from now
# ARGV[2]  the spread: bulk waiters leave at random over this long after the end
# ARGV[3]  ... and the bucket's capacity (interval x burst) at the pace now
# Returns  {remaining, spread} of the pause now in force.
#
# With KEYS[2] the bucket is empty when the pause ends, and fills from then
# at the pace: the pace spaces what the pause held. A full burst on top of it
# would put more than the pace into the server's next window, past a limit
# learned a hair high (its 429 would cost another pause).
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
if KEYS[2] then
  local tat = pause_until + tonumber(ARGV[3])
  redis.call('SET', KEYS[2], string.format('%.0f', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
end
return {math.ceil(pause_until - now), spread}
"""

# rate="auto": how many requests the fleet let go in a stretch of the recent
# past, and how many of those the server refused.
#
# KEYS[1]  the grants' log, a sorted set scored by the server's clock
# KEYS[2]  the refused requests, scored by their grants' times (REFUSE_SCRIPT)
# ARGV[1]  the stretch's start (included) ...
# ARGV[2]  ... and its end (left out): times on the server's clock, or with
# ARGV[3]  "ago", microseconds before now
# Returns  {granted, refused}.
COUNT_SCRIPT = """
local first, last = tonumber(ARGV[1]), tonumber(ARGV[2])
if ARGV[3] == 'ago' then
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
  first, last = now - first, now - last
end
first, last = string.format('%.0f', first), string.format('(%.0f', last)
return {redis.call('ZCOUNT', KEYS[1], first, last), redis.call('ZCOUNT', KEYS[2], first, last)}
"""

# rate="auto": requests the server refused (a 429): they were granted, but
# they hold no place in the server's window.
#
# KEYS[1]  the refused requests, a sorted set
# ARGV     the grant time of each (as ACQUIRE_SCRIPT returned it)
# Returns  how many the set holds. It keeps a minute.
REFUSE_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%.0f', now - 60000000))
for _, granted in ipairs(ARGV) do redis.call('ZADD', KEYS[1], granted, granted) end
redis.call('PEXPIRE', KEYS[1], 60000)
return redis.call('ZCARD', KEYS[1])
"""

# rate="auto": the limit the processes on the key learned.
#
# KEYS[1]  a hash: "learned" ("<limit> <mode> <seconds>": requests per second,
#          "bucket" or "window", the window's length), "version" (bumped
#          at each new "learned") and "at" (when, on the server's clock)
# ARGV[1]  a limit just learned ("<limit> <mode> <seconds>"), or "" to read
# ARGV[2]  with ARGV[1]: microseconds before now that the refused request it
#          was learned from was sent. A limit published since then was learned
#          from the same full window (this 429 is its echo): it stands, unless
#          both are long windows and this one holds more. Each process counts
#          the fleet's grants up to its own refused request's grant, and a
#          request granted later may still have reached the server first:
#          every such count is short, and the largest is the closest.
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
  else
    local function size(learned)  -- a long window's size in requests, else nil
      local limit, mode, seconds = string.match(learned, '^(%S+) (%S+) (%S+)$')
      if mode == 'window' then return tonumber(limit) * tonumber(seconds) end
    end
    local offered, current = size(ARGV[1]), size(redis.call('HGET', KEYS[1], 'learned') or '')
    if offered and current and offered >= current + 0.5 then
      redis.call('HSET', KEYS[1], 'learned', ARGV[1])  -- the same event: its time stands
      redis.call('HINCRBY', KEYS[1], 'version', 1)
      taken = 1
    end
  end
end
redis.call('PEXPIRE', KEYS[1], 600000)
return {redis.call('HGET', KEYS[1], 'learned') or '', tonumber(redis.call('HGET', KEYS[1], 'version') or '0'), taken}
"""

PAUSE_SUFFIX = ":pause"
FLEET_SUFFIX = ":auto"
LOG_SUFFIX = ":log"
WINDOW_SUFFIX = ":window"
REFUSED_SUFFIX = ":refused"


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
    granted_at: int | None = None
    """With rate="auto", a grant's time on the server's clock, in microseconds."""
    member: str | None = None
    """With rate="auto", the grant's member in the fleet's window log."""
    fleet_granted: int | None = None
    """With rate="auto" at first contact (no window known), the fleet's grants so far."""


def read_answer(reply: Any) -> Answer:
    """An ``Answer`` from the script's reply (three integers, then a grant's time, member, count)."""
    wait, paused, spread, *granted = reply
    seconds = int(wait) / 1_000_000, bool(int(paused)), int(spread) / 1_000_000
    if not granted:
        return Answer(*seconds)
    count = int(granted[2]) if len(granted) > 2 else -1
    return Answer(*seconds, int(granted[0]), text(granted[1]), None if count < 0 else count)


def text(value: Any) -> str:
    """A Redis reply's string (bytes unless the client decodes replies)."""
    return value.decode() if isinstance(value, bytes) else str(value)

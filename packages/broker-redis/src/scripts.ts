/**
 * The Lua scripts of the broker. Every operation that touches more than one key is one script, so it
 * is atomic, and every key it touches is passed in KEYS (all under one hash tag: Redis Cluster safe).
 *
 * Ids: an envelope's id is the decimal of `band * 2^42 + seq`, where `band = 100 - priority` (0..200)
 * and `seq` comes from one INCRBY counter. The ready zset scores members by that number, so ZPOPMIN
 * gives the highest priority first and FIFO within a priority; the band is recovered from the id
 * alone. Numbers above 10^14 lose digits when Lua turns them into strings by itself (`%.14g`), so
 * every score is formatted with `%.0f` before it reaches `redis.call`.
 *
 * Tokens: `<id>.<deliveryCount>`, the member of the lease zset. Holding the lease means that member is
 * still there; a redelivery gets a new count, so a stale token never matches again.
 */

/** 2^42: the sequence space inside one priority band. */
export const BAND_SIZE = 4398046511104;

/** `bulk(cmd, key, args)`: one variadic call per 4,000 arguments (Lua's stack limit). */
const BULK = `local function bulk(cmd, key, args)
  local i = 1
  while i <= #args do
    local j = math.min(i + 3999, #args)
    redis.call(cmd, key, unpack(args, i, j))
    i = j + 1
  end
end`;

// Helpers shared by several scripts (prepended to their bodies).
const PRELUDE = `
local BAND = 4398046511104
local function fmt(n) return string.format('%d', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
${BULK}
local function wake(key)
  redis.call('LPUSH', key, '1')
  redis.call('LTRIM', key, '0', '0')
end
-- Called before adding delayed entries whose earliest due time is \`due\`: when that moves the
-- schedule earlier, bump the generation so every idle claimer hears of it (see CLAIM).
local function schedule_moved(delayedKey, genKey, due)
  local first = redis.call('ZRANGE', delayedKey, '0', '0', 'WITHSCORES')
  if #first == 0 or due < tonumber(first[2]) then redis.call('INCR', genKey) end
end
`;

/**
 * KEYS: seq, ready, delayed, msg, wake, dgen. ARGV: n, then n triples (band, delayMs, raw).
 * Ready envelopes go to the ready zset, delayed ones to the delayed zset by due time (server clock).
 * One wake token tells one blocked claimer to look (it passes the word on if more is left).
 */
export const PUBLISH = `${PRELUDE}
local n = tonumber(ARGV[1])
local last = redis.call('INCRBY', KEYS[1], ARGV[1])
local base = last - n
local now = nil
local msgs, ready, delayed = {}, {}, {}
local earliest = nil
for i = 1, n do
  local o = 1 + (i - 1) * 3
  local band = tonumber(ARGV[o + 1])
  local delay = tonumber(ARGV[o + 2])
  local id = fmt(band * BAND + base + i)
  msgs[#msgs + 1] = id
  msgs[#msgs + 1] = ARGV[o + 3]
  if delay > 0 then
    if not now then now = now_ms() end
    if not earliest or now + delay < earliest then earliest = now + delay end
    delayed[#delayed + 1] = fmt(now + delay)
    delayed[#delayed + 1] = id
  else
    ready[#ready + 1] = id
    ready[#ready + 1] = id
  end
end
bulk('HSET', KEYS[4], msgs)
if #ready > 0 then bulk('ZADD', KEYS[2], ready) end
if #delayed > 0 then
  schedule_moved(KEYS[3], KEYS[6], earliest)
  bulk('ZADD', KEYS[3], delayed)
end
wake(KEYS[5])
return n
`;

/**
 * KEYS: ready, delayed, lease, msg, dc, seq, wake, dgen. ARGV: max, leaseMs, sweepLimit, seenGen.
 * Moves due delayed envelopes (to the back of their priority) and expired leases (back to their
 * original place) to ready, then pops up to `max` and leases each under a new token, counting the
 * delivery. Returns {waitMs, gen, token1, raw1, token2, raw2, ...}: waitMs is 0 when more is ready
 * or due, the time until the next delayed envelope is due, or -1 when there is none; gen is the
 * schedule generation.
 *
 * Wake-ups: one token on the wake list wakes one blocked claimer (BLPOP serves the longest-blocked
 * first). A claimer that leaves work behind passes the token on. So does one that sees a schedule
 * generation newer than the one it saw last (`seenGen`, -1: none yet): the chain then reaches every
 * idle claimer once, so each re-arms its timer for a newly earlier delay, even when the claimer that
 * got the publish's token went busy.
 */
export const CLAIM = `${PRELUDE}
local max = tonumber(ARGV[1])
local leaseMs = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local seen = tonumber(ARGV[4])
local now = now_ms()
local nowS = fmt(now)
local more = false
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', nowS, 'LIMIT', '0', ARGV[3])
if #due > 0 then
  if #due == limit then more = true end
  local last = redis.call('INCRBY', KEYS[6], #due)
  local base = last - #due
  local args = {}
  for i, id in ipairs(due) do
    args[#args + 1] = fmt(math.floor(tonumber(id) / BAND) * BAND + base + i)
    args[#args + 1] = id
  end
  bulk('ZADD', KEYS[1], args)
  bulk('ZREM', KEYS[2], due)
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', nowS, 'LIMIT', '0', ARGV[3])
if #expired > 0 then
  if #expired == limit then more = true end
  local args = {}
  for _, token in ipairs(expired) do
    local id = string.match(token, '^(%d+)%.')
    if id then
      args[#args + 1] = id
      args[#args + 1] = id
    end
  end
  if #args > 0 then bulk('ZADD', KEYS[1], args) end
  bulk('ZREM', KEYS[3], expired)
end
local gen = tonumber(redis.call('GET', KEYS[8]) or '0')
local out = {0, gen}
if max > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
  if #popped > 0 then
    local ids = {}
    for i = 1, #popped, 2 do ids[#ids + 1] = popped[i] end
    local raws = redis.call('HMGET', KEYS[4], unpack(ids))
    local leases = {}
    local exp = fmt(now + leaseMs)
    for i, id in ipairs(ids) do
      local raw = raws[i]
      if raw then
        local token = id .. '.' .. fmt(redis.call('HINCRBY', KEYS[5], id, '1'))
        leases[#leases + 1] = exp
        leases[#leases + 1] = token
        out[#out + 1] = token
        out[#out + 1] = raw
      end
    end
    if #leases > 0 then redis.call('ZADD', KEYS[3], unpack(leases)) end
  end
end
if redis.call('ZCARD', KEYS[1]) > 0 or more then
  -- Leftovers: pass the word on to the next blocked claimer.
  wake(KEYS[7])
  out[1] = 0
else
  if seen >= 0 and gen > seen then
    wake(KEYS[7])
  else
    -- Nothing ready: a wake token now would only cause an empty round trip.
    redis.call('DEL', KEYS[7])
  end
  local nxt = redis.call('ZRANGE', KEYS[2], '0', '0', 'WITHSCORES')
  if #nxt > 0 then
    out[1] = math.max(0, tonumber(nxt[2]) - now)
  else
    out[1] = -1
  end
end
return out
`;

/**
 * KEYS: lease. ARGV: leaseMs, token1, token2, ... One 0/1 per token: 1 when it still holds its lease
 * (now renewed). Many renewals share one call (the broker batches those issued in one tick).
 */
export const EXTEND = `${PRELUDE}
local exp = fmt(now_ms() + tonumber(ARGV[1]))
local out = {}
for i = 2, #ARGV do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('ZADD', KEYS[1], exp, ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
`;

/**
 * KEYS: lease, msg, dc. ARGV: resend, token1, id1, token2, id2, ... One 0/1 per pair: 1 when the
 * token held the lease (the envelope is forgotten), 0 for a stale token (nothing changes). Acks
 * issued in one tick share one call. `resend` = 1 when the first call's reply was lost with its
 * connection: a token already gone whose envelope is gone too was acked by that first call, so it
 * answers 1 again instead of calling itself stale.
 */
export const ACK = `
${BULK}
local resend = ARGV[1] == '1'
local out, ids, gone = {}, {}, {}
for i = 2, #ARGV, 2 do
  local id = ARGV[i + 1]
  if redis.call('ZREM', KEYS[1], ARGV[i]) == 1 then
    ids[#ids + 1] = id
    gone[id] = true
    out[#out + 1] = 1
  elseif resend and (gone[id] or redis.call('HEXISTS', KEYS[2], id) == 0) then
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
-- The envelopes and delivery counts of the whole batch in one HDEL each.
bulk('HDEL', KEYS[2], ids)
bulk('HDEL', KEYS[3], ids)
return out
`;

/**
 * KEYS: lease, ready, delayed, wake, dgen. ARGV: token, id, delayMs.
 * Puts the envelope back at its original place (ahead of newer ones of its priority), or delays it.
 */
export const RELEASE = `${PRELUDE}
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local delay = tonumber(ARGV[3])
if delay > 0 then
  local due = now_ms() + delay
  schedule_moved(KEYS[3], KEYS[5], due)
  redis.call('ZADD', KEYS[3], fmt(due), ARGV[2])
else
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[2])
end
wake(KEYS[4])
return 1
`;

/**
 * KEYS: lease, dead, deadinfo, msg, dc, seq. ARGV: triples (token, id, info), where info starts with
 * `e` (an envelope, re-drivable) or `m` (malformed: the raw bytes are cut to 4 KiB here, and to 1 KiB
 * of whole UTF-8 characters when listed), then JSON.
 * Returns how many tokens still held their lease (those are dead-lettered, the others untouched).
 */
export const DEAD_LETTER = `
local n = 0
for i = 1, #ARGV, 3 do
  local token, id, info = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('ZREM', KEYS[1], token) == 1 then
    redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[6]), id)
    redis.call('HSET', KEYS[3], id, info)
    redis.call('HDEL', KEYS[5], id)
    if string.sub(info, 1, 1) == 'm' then
      local raw = redis.call('HGET', KEYS[4], id)
      if raw and #raw > 4096 then redis.call('HSET', KEYS[4], id, string.sub(raw, 1, 4096)) end
    end
    n = n + 1
  end
end
return n
`;

/** KEYS: dead, deadinfo, msg. ARGV: offset, count. Returns triples (id, info, raw), oldest first. */
export const LIST_DEAD = `
local ids = redis.call('ZRANGE', KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1)
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or ''
  out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''
end
return out
`;

/**
 * KEYS: dead, deadinfo, msg, ready, seq, wake. ARGV: ids.
 * Re-publishes dead envelopes (not malformed ones) under a new id at the back of their priority, so a
 * token of the dead delivery can never match the new one. Returns how many were re-driven.
 */
export const REDRIVE = `${PRELUDE}
local n = 0
for _, id in ipairs(ARGV) do
  local info = redis.call('HGET', KEYS[2], id)
  local raw = redis.call('HGET', KEYS[3], id)
  if info and raw and string.sub(info, 1, 1) == 'e' and redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    local nid = fmt(math.floor(tonumber(id) / BAND) * BAND + redis.call('INCR', KEYS[5]))
    redis.call('HSET', KEYS[3], nid, raw)
    redis.call('ZADD', KEYS[4], nid, nid)
    n = n + 1
  end
end
if n > 0 then wake(KEYS[6]) end
return n
`;

/**
 * KEYS: ready, delayed, lease, dead. Returns {delayed, inFlight, dead, band1, count1, ...}, walking
 * the ready zset one priority band at a time (as many steps as priorities present).
 */
export const STATS = `${PRELUDE}
local out = {redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4])}
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local score = first[2]
while score do
  local band = math.floor(tonumber(score) / BAND)
  local hi = (band + 1) * BAND
  out[#out + 1] = band
  out[#out + 1] = redis.call('ZCOUNT', KEYS[1], fmt(band * BAND), '(' .. fmt(hi))
  local nxt = redis.call('ZRANGEBYSCORE', KEYS[1], fmt(hi), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  score = nxt[2]
end
return out
`;

// --- Fused scripts: the broker's and the Redis storage's scripts in one call ---------------------
//
// When RedisStorage shares the broker's Redis, its scripts (handed over through its fusion surface)
// run inside the broker's: each script is wrapped as a local Lua function of (KEYS, ARGV), whose
// parameters shadow the globals, so both run unchanged in one atomic call and one round trip.

/** A script's text as a local function `name(KEYS, ARGV)`. */
function asFunction(name: string, lua: string): string {
  return `local function ${name}(KEYS, ARGV)\n${lua}\nend\n`;
}

// The fused call's KEYS are the storage part's then the broker part's; ARGV[1] and ARGV[2] say how
// many KEYS and ARGV the storage part has, and its ARGV follow them.
const SPLIT = `
local nsk, nsa = tonumber(ARGV[1]), tonumber(ARGV[2])
local sk, sa, bk, ba = {}, {}, {}, {}
for i = 1, nsk do sk[i] = KEYS[i] end
for i = nsk + 1, #KEYS do bk[#bk + 1] = KEYS[i] end
for i = 1, nsa do sa[i] = ARGV[2 + i] end
for i = 3 + nsa, #ARGV do ba[#ba + 1] = ARGV[i] end
`;

/**
 * storage add + PUBLISH. Storage part: the storage's `add` call. Broker part: PUBLISH's KEYS and
 * ARGV. Replies what PUBLISH replies.
 */
export function fusedEnqueueScript(storageAdd: string): string {
  return `${asFunction("storage_add", storageAdd)}${asFunction("broker_publish", PUBLISH)}${SPLIT}
storage_add(sk, sa)
return broker_publish(bk, ba)`;
}

/**
 * storage finishMany + ACK of the items it wrote. Storage part: the `finishMany` call. Broker part:
 * ACK's KEYS; ARGV one token and id per item, in the items' order. An item the storage refused
 * (stale attempt) is not acked. Replies `finishMany`'s reply.
 */
export function fusedFinishAckScript(storageFinishMany: string): string {
  return `${asFunction("storage_finish", storageFinishMany)}${asFunction("broker_ack", ACK)}${SPLIT}
local res = storage_finish(sk, sa)
local acks = {'0'}
for i, r in ipairs(res) do
  if r == 1 then
    acks[#acks + 1] = ba[2 * i - 1]
    acks[#acks + 1] = ba[2 * i]
  end
end
if #acks > 1 then broker_ack(bk, acks) end
return res`;
}

/**
 * CLAIM + storage beginMany of the claimed envelopes' records. Storage part: the head of a
 * `beginMany` call (KEYS seq, idx:all, idx:new, idx:process; ARGV the channel prefix), then the task
 * key prefix as one more ARGV. Broker part: CLAIM's KEYS and ARGV.
 * The uuid is read from each envelope (JSON); an envelope that does not parse, or whose uuid is not
 * plain hex and dashes, is not begun here (the worker begins it, or the broker dead-letters it).
 * Existing records only (no create items): a missing record answers 0 and the worker creates it.
 * Replies {CLAIM's reply, one begin reply (or 0) per claimed envelope}.
 */
export function fusedClaimBeginScript(storageBeginMany: string): string {
  return `${asFunction("storage_begin", storageBeginMany)}${asFunction("broker_claim", CLAIM)}${SPLIT}
local taskPrefix = sa[#sa]
sa[#sa] = nil
local out = broker_claim(bk, ba)
local n = (#out - 2) / 2
local begins = {}
for j = 1, n do begins[j] = 0 end
local at = {}
for j = 1, n do
  local ok, env = pcall(cjson.decode, out[2 + 2 * j])
  local uuid = ok and type(env) == 'table' and env.uuid
  if type(uuid) == 'string' and #uuid <= 64 and string.match(uuid, '^[%x%-]+$') then
    sk[#sk + 1] = taskPrefix .. uuid
    sa[#sa + 1] = uuid
    sa[#sa + 1] = '0'
    at[#at + 1] = j
  end
end
if #at > 0 then
  local res = storage_begin(sk, sa)
  for i, j in ipairs(at) do begins[j] = res[i] end
end
return {out, begins}`;
}

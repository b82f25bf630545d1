/**
 * The Lua scripts. Each guarded state change is one script (EVALSHA through ioredis'
 * `defineCommand`), so the check, the write, the index update and the notification happen atomically
 * in one round trip. Every key a script touches is passed in KEYS (Redis Cluster rule).
 *
 * Record hash fields: `status`, `attempt`, `ix` (the record's member in the index sorted sets),
 * dates as epoch ms, and JSON written by the client: `d` (the immutable record data), `r` (the
 * outcome's fields) and `cancelReason`. Times come from the server clock
 * (`TIME`), so all clients agree on them.
 */

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Creating a record. Index members are `ix` = 12 hex digits of an insertion counter + the uuid, scored
 * by `createdAt` (ms): ZREVRANGE then lists newest first, and records created in the same millisecond
 * latest-inserted first (equal scores sort by member). `ix` is kept in the hash.
 * Expects: `key`, `uuid`, `created` ('' = now), `first`/`last` (ARGV range of field/value items),
 * and KEYS[seqK], KEYS[allK], KEYS[newK].
 */
const CREATE = `local created = tonumber(created) or now
local ix = string.format('%012x', redis.call('INCR', KEYS[seqK])) .. uuid
redis.call('HSET', key, 'status', 'new', 'attempt', '0', 'ix', ix, 'createdAt', created, 'updatedAt', now,
  unpack(ARGV, first, last))
redis.call('ZADD', KEYS[allK], created, ix)
redis.call('ZADD', KEYS[newK], created, ix)`;

/**
 * add. KEYS: seq, idx:all, idx:new, then a task hash per record.
 * ARGV per record: uuid, createdAt ms ('' = now), n, then n field/value items.
 * Existing records are left untouched.
 */
export const ADD = `${NOW}
local seqK, allK, newK = 1, 2, 3
local i = 1
for k = 4, #KEYS do
  local key, uuid, created, n = KEYS[k], ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if redis.call('EXISTS', key) == 0 then
    local first, last = i + 3, i + 2 + n
    ${CREATE}
  end
  i = i + 3 + n
end
return 0`;

/**
 * begin. KEYS: task, seq, idx:all, idx:new, idx:process.
 * ARGV: uuid, channel, [createdAt ms, field/value items: create a missing record].
 * Returns 0 (missing and nothing to create it from), {2, fields} (final: the whole hash), or
 * {1, attempt, now, createdAt, d, cancelReason} (started: everything a started record holds, read
 * in the one HMGET the guard needs anyway, so no HGETALL on the hot path).
 */
export const BEGIN = `${NOW}
local cur = redis.call('HMGET', KEYS[1], 'status', 'attempt', 'ix', 'createdAt', 'd', 'cancelReason')
if not cur[1] then
  if #ARGV < 3 then return 0 end
  do
    local key, uuid, created, first, last, seqK, allK, newK = KEYS[1], ARGV[1], ARGV[3], 4, #ARGV, 2, 3, 4
    ${CREATE}
  end
  cur = redis.call('HMGET', KEYS[1], 'status', 'attempt', 'ix', 'createdAt', 'd', 'cancelReason')
end
local status = cur[1]
if status ~= 'new' and status ~= 'process' then
  return {2, redis.call('HGETALL', KEYS[1])}
end
local attempt = tonumber(cur[2]) + 1
redis.call('HSET', KEYS[1], 'status', 'process', 'attempt', attempt, 'startedAt', now, 'updatedAt', now)
if status == 'new' then
  redis.call('ZREM', KEYS[4], cur[3])
  redis.call('ZADD', KEYS[5], cur[4], cur[3])
end
redis.call('PUBLISH', ARGV[2], 'status')
return {1, attempt, now, cur[4], cur[5], cur[6]}`;

/**
 * finish. KEYS: task, outputs, idx:finished, idx:new, idx:process, idx:<final status>.
 * ARGV: uuid, channel, attempt, final status, retention ms (0 = keep), field/value items.
 * Writes only when the record is not final and its attempt equals ARGV[3]. Returns 1 or 0.
 */
export const FINISH = `local cur = redis.call('HMGET', KEYS[1], 'status', 'attempt', 'ix', 'createdAt')
local status, ix = cur[1], cur[3]
if (status ~= 'new' and status ~= 'process') or cur[2] ~= ARGV[3] then return 0 end
${NOW}
redis.call('HSET', KEYS[1], 'status', ARGV[4], 'updatedAt', now, 'finishedAt', now, unpack(ARGV, 6))
if status == 'new' then redis.call('ZREM', KEYS[4], ix) else redis.call('ZREM', KEYS[5], ix) end
redis.call('ZADD', KEYS[6], cur[4], ix)
redis.call('ZADD', KEYS[3], now, ix)
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
redis.call('PUBLISH', ARGV[2], 'final')
return 1`;

/**
 * appendOutput. KEYS: task, outputs. ARGV: channel, attempt, JSON value.
 * Appends only for the current attempt of a record that is not final. Returns 1 or 0.
 */
export const APPEND_OUTPUT = `local cur = redis.call('HMGET', KEYS[1], 'status', 'attempt')
if (cur[1] ~= 'new' and cur[1] ~= 'process') or cur[2] ~= ARGV[2] then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('PUBLISH', ARGV[1], 'output')
return 1`;

/**
 * requestCancel. KEYS: task, outputs, idx:finished, idx:new, idx:cancel.
 * ARGV: uuid, channel, JSON reason, retention ms.
 */
export const REQUEST_CANCEL = `local cur = redis.call('HMGET', KEYS[1], 'status', 'ix', 'createdAt')
local status, ix = cur[1], cur[2]
if not status then return 'not-found' end
if status ~= 'new' and status ~= 'process' then return 'final' end
${NOW}
if status == 'process' then
  redis.call('HSET', KEYS[1], 'cancelReason', ARGV[3], 'updatedAt', now)
  redis.call('PUBLISH', ARGV[2], 'cancel')
  return 'requested'
end
redis.call('HSET', KEYS[1], 'status', 'cancel', 'cancelReason', ARGV[3], 'updatedAt', now, 'finishedAt', now)
redis.call('ZREM', KEYS[4], ix)
redis.call('ZADD', KEYS[5], cur[3], ix)
redis.call('ZADD', KEYS[3], now, ix)
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
redis.call('PUBLISH', ARGV[2], 'final')
return 'cancelled'`;

/**
 * requeue. KEYS: task, outputs, idx:finished, idx:error, idx:new. ARGV: uuid, channel.
 * Moves an `error` record back to `new` (and takes it out of retention). Returns 1 or 0.
 */
export const REQUEUE = `local cur = redis.call('HMGET', KEYS[1], 'status', 'ix', 'createdAt')
local ix = cur[2]
if cur[1] ~= 'error' then return 0 end
${NOW}
redis.call('HSET', KEYS[1], 'status', 'new', 'updatedAt', now)
redis.call('HDEL', KEYS[1], 'r', 'finishedAt')
redis.call('ZREM', KEYS[4], ix)
redis.call('ZADD', KEYS[5], cur[3], ix)
redis.call('ZREM', KEYS[3], ix)
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[2])
redis.call('PUBLISH', ARGV[2], 'status')
return 1`;

/**
 * purgeCandidates. KEYS: idx:finished. ARGV: olderThan ms, batch size.
 * Returns the cutoff (server time) and up to `batch` index members finished at or before it.
 */
export const PURGE_CANDIDATES = `${NOW}
local cutoff = now - tonumber(ARGV[1])
return {tostring(cutoff), redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[2]))}`;

/**
 * purgeDelete. KEYS: idx:all, idx:finished, idx:success, idx:error, idx:cancel, idx:retry,
 * then task, outputs per member. ARGV: cutoff, then the index members.
 * Deletes records that are still final and finished at or before the cutoff (a record requeued or
 * refinished since the candidates were read is kept). A record already gone (expired) only leaves
 * the indexes. Returns the number of records removed.
 */
export const PURGE_DELETE = `local cutoff = tonumber(ARGV[1])
local n = 0
for j = 2, #ARGV do
  local ix = ARGV[j]
  local task, out = KEYS[5 + (j - 1) * 2], KEYS[6 + (j - 1) * 2]
  local cur = redis.call('HMGET', task, 'status', 'finishedAt')
  local status, fin = cur[1], tonumber(cur[2])
  if not status then
    redis.call('DEL', out)
    for k = 1, 6 do redis.call('ZREM', KEYS[k], ix) end
    n = n + 1
  elseif status ~= 'new' and status ~= 'process' and fin and fin <= cutoff then
    redis.call('DEL', task, out)
    for k = 1, 6 do redis.call('ZREM', KEYS[k], ix) end
    n = n + 1
  elseif status == 'new' or status == 'process' then
    redis.call('ZREM', KEYS[2], ix)
  end
end
return n`;

/**
 * heartbeat. KEYS: workers zset, infos hash. ARGV: worker id, JSON info, ttl ms.
 * Also drops a few expired workers, so that dead ids do not pile up when nobody lists them.
 */
export const HEARTBEAT = `${NOW}
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('HDEL', KEYS[2], unpack(dead))
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1`;

/**
 * listWorkers. KEYS: workers zset, infos hash. Drops expired workers (lazily, on read) and returns
 * the infos of the live ones.
 */
export const LIST_WORKERS = `${NOW}
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 1, #dead, 500 do
  redis.call('HDEL', KEYS[2], unpack(dead, i, math.min(i + 499, #dead)))
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
if #live == 0 then return {} end
local out = {}
for i = 1, #live, 500 do
  local part = redis.call('HMGET', KEYS[2], unpack(live, i, math.min(i + 499, #live)))
  for _, v in ipairs(part) do if v then out[#out + 1] = v end end
end
return out`;

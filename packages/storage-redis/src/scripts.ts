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
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nowS = string.format('%d', now)`;

/**
 * The hash of a new record, under its index member `ix`. Expects: `key`, `ix`, `created` (ms),
 * `first`/`last` (ARGV range of field/value items).
 */
const NEW_HASH = `redis.call('HSET', key, 'status', 'new', 'attempt', '0', 'ix', ix, 'createdAt', created, 'updatedAt', nowS,
  unpack(ARGV, first, last))`;

/**
 * Creating a record. Index members are `ix` = 12 hex digits of an insertion counter + the uuid, scored
 * by `createdAt` (ms): ZREVRANGE then lists newest first, and records created in the same millisecond
 * latest-inserted first (equal scores sort by member). `ix` is kept in the hash.
 * Expects: `key`, `uuid`, `created` ('' = now), `first`/`last` (ARGV range of field/value items),
 * and KEYS[seqK], KEYS[allK], KEYS[newK].
 */
const CREATE = `local created = tonumber(created) and created or nowS
local ix = string.format('%012x', redis.call('INCR', KEYS[seqK])) .. uuid
${NEW_HASH}
redis.call('ZADD', KEYS[allK], created, ix)
redis.call('ZADD', KEYS[newK], created, ix)`;

/**
 * `many(cmd, key, args)`: one variadic call per 4,000 arguments (Lua's stack limit). The batch
 * scripts collect their index moves and send them once per batch instead of once per item.
 */
const MANY = `local function many(cmd, key, args)
  local i = 1
  while i <= #args do
    local j = math.min(i + 3999, #args)
    redis.call(cmd, key, unpack(args, i, j))
    i = j + 1
  end
end`;

/**
 * add. KEYS: seq, idx:all, idx:new, then a task hash per record.
 * ARGV per record: uuid, createdAt ms ('' = now), n, then n field/value items.
 * Existing records are left untouched (a uuid twice in one call: the first wins). The writes of
 * CREATE per record, with the counter taken once for the batch (an existing record leaves a gap,
 * which only orders) and the index members added in one ZADD per index: a bulk add then costs
 * about two commands a record instead of five.
 */
export const ADD = `${NOW}
${MANY}
local n = #KEYS - 3
local base = redis.call('INCRBY', KEYS[1], n) - n
local members = {}
local i = 1
for k = 4, #KEYS do
  local key, uuid, created, m = KEYS[k], ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  if redis.call('EXISTS', key) == 0 then
    created = tonumber(created) and created or nowS
    local ix = string.format('%012x', base + k - 3) .. uuid
    local first, last = i + 3, i + 2 + m
    ${NEW_HASH}
    members[#members + 1] = created
    members[#members + 1] = ix
  end
  i = i + 3 + m
end
many('ZADD', KEYS[2], members)
many('ZADD', KEYS[3], members)
return 0`;

/**
 * `deferred(out, who, fn)`: runs a batch's collected index moves; if they fail (a key of the wrong
 * type, say), every item that had a move in them answers `{-1, message}` instead, as it would have
 * with the move done inside its own item.
 */
const DEFERRED = `local function deferred(out, who, fn)
  if #who == 0 then return end
  local ok, res = pcall(fn)
  if ok then return end
  if type(res) == 'table' then res = res.err or res[1] end
  for _, j in ipairs(who) do out[j] = {-1, tostring(res)} end
end`;

/**
 * Runs `one(...)` for one item of a batch under `pcall`: an error in one item (a key of the wrong
 * type, say) becomes that item's reply `{-1, message}` instead of failing the whole batch. Writes the
 * failed item made before its error stay, as they would with a script per item.
 */
const ITEM = `local function item(fn, ...)
  local ok, res = pcall(fn, ...)
  if ok then return res end
  if type(res) == 'table' then res = res.err or res[1] end
  return {-1, tostring(res)}
end`;

/**
 * begin, for a batch of records. KEYS: seq, idx:all, idx:new, idx:process, then one task hash per
 * item. ARGV: channel prefix, then per item: uuid, n, and n create items (createdAt ms, then
 * field/value items; n = 0: do not create a missing record).
 * Replies one entry per item: 0 (missing and nothing to create it from), {2, fields} (final: the
 * whole hash), {1, attempt, now, createdAt, d, cancelReason} (started: everything a started record
 * holds, read in the one HMGET the guard needs anyway) or {-1, error}.
 */
export const BEGIN_MANY = `${NOW}
${ITEM}
${MANY}
${DEFERRED}
local fromNew, toProcess, who = {}, {}, {}
local function one(key, uuid, first, last, j)
  local cur = redis.call('HMGET', key, 'status', 'attempt', 'ix', 'createdAt', 'd', 'cancelReason')
  if not cur[1] then
    if last < first then return 0 end
    do
      local created, seqK, allK, newK = ARGV[first], 1, 2, 3
      first = first + 1
      ${CREATE}
    end
    cur = redis.call('HMGET', key, 'status', 'attempt', 'ix', 'createdAt', 'd', 'cancelReason')
  end
  local status = cur[1]
  if status ~= 'new' and status ~= 'process' then
    return {2, redis.call('HGETALL', key)}
  end
  local attempt = tonumber(cur[2]) + 1
  redis.call('HSET', key, 'status', 'process', 'attempt', string.format('%d', attempt), 'startedAt', nowS,
    'updatedAt', nowS)
  if status == 'new' then
    fromNew[#fromNew + 1] = cur[3]
    toProcess[#toProcess + 1] = cur[4]
    toProcess[#toProcess + 1] = cur[3]
    who[#who + 1] = j
  end
  redis.call('PUBLISH', ARGV[1] .. uuid, 'status')
  return {1, attempt, now, cur[4], cur[5] or false, cur[6] or false}
end
local out = {}
local i = 2
for k = 5, #KEYS do
  local n = tonumber(ARGV[i + 1])
  out[#out + 1] = item(one, KEYS[k], ARGV[i], i + 2, i + 1 + n, #out + 1)
  i = i + 2 + n
end
deferred(out, who, function()
  many('ZREM', KEYS[3], fromNew)
  many('ZADD', KEYS[4], toProcess)
end)
return out`;

/**
 * finish, for a batch. KEYS: idx:finished, idx:new, idx:process, idx:success, idx:error,
 * idx:cancel, idx:retry, then per item: task, and outputs only with retention (only then touched).
 * ARGV: channel prefix, retention ms (0 = keep), then per item: uuid, attempt, final status, n, and
 * n field/value items.
 * An item writes only when its record is not final and its attempt is the record's. Replies one
 * entry per item: 1 (written), 0 (refused) or {-1, error}.
 */
export const FINISH_MANY = `${ITEM}
${MANY}
${DEFERRED}
local now, nowS
local ttl = tonumber(ARGV[2])
local finalIdx = {success = 4, error = 5, cancel = 6, retry = 7}
-- Index moves, by KEYS position: members to remove, score/member pairs to add.
local rem, add, who = {[2] = {}, [3] = {}}, {[1] = {}, [4] = {}, [5] = {}, [6] = {}, [7] = {}}, {}
local function one(task, outputs, uuid, attempt, final, first, last, j)
  local idx = finalIdx[final]
  if not idx then error('not a final status: ' .. final) end
  local cur = redis.call('HMGET', task, 'status', 'attempt', 'ix', 'createdAt')
  local status, ix = cur[1], cur[3]
  if (status ~= 'new' and status ~= 'process') or cur[2] ~= attempt then return 0 end
  if not now then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    nowS = string.format('%d', now)
  end
  redis.call('HSET', task, 'status', final, 'updatedAt', nowS, 'finishedAt', nowS, unpack(ARGV, first, last))
  local from = rem[status == 'new' and 2 or 3]
  from[#from + 1] = ix
  local to = add[idx]
  to[#to + 1] = cur[4]
  to[#to + 1] = ix
  local fin = add[1]
  fin[#fin + 1] = nowS
  fin[#fin + 1] = ix
  who[#who + 1] = j
  if ttl > 0 then
    redis.call('PEXPIRE', task, ttl)
    redis.call('PEXPIRE', outputs, ttl)
  end
  redis.call('PUBLISH', ARGV[1] .. uuid, 'final')
  return 1
end
local out = {}
local i = 3
local step = ttl > 0 and 2 or 1
for k = 8, #KEYS, step do
  local n = tonumber(ARGV[i + 3])
  out[#out + 1] = item(one, KEYS[k], KEYS[k + step - 1], ARGV[i], ARGV[i + 1], ARGV[i + 2], i + 4, i + 3 + n, #out + 1)
  i = i + 4 + n
end
deferred(out, who, function()
  for _, k in ipairs({2, 3}) do many('ZREM', KEYS[k], rem[k]) end
  for _, k in ipairs({4, 5, 6, 7, 1}) do many('ZADD', KEYS[k], add[k]) end
end)
return out`;

/**
 * appendOutput, for a batch (appended in call order). KEYS per item: task, outputs.
 * ARGV: channel prefix, then per item: uuid, attempt, JSON value.
 * An item appends only for the current attempt of a record that is not final. Replies one entry per
 * item: 1, 0 (ignored) or {-1, error}.
 */
export const APPEND_OUTPUT_MANY = `${ITEM}
local function one(task, outputs, uuid, attempt, value)
  local cur = redis.call('HMGET', task, 'status', 'attempt')
  if (cur[1] ~= 'new' and cur[1] ~= 'process') or cur[2] ~= attempt then return 0 end
  redis.call('RPUSH', outputs, value)
  redis.call('PUBLISH', ARGV[1] .. uuid, 'output')
  return 1
end
local out = {}
local i = 2
for k = 1, #KEYS, 2 do
  out[#out + 1] = item(one, KEYS[k], KEYS[k + 1], ARGV[i], ARGV[i + 1], ARGV[i + 2])
  i = i + 3
end
return out`;

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

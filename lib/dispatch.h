/*
 * dispatch.h: fair dispatch under one account-wide provider limit, as Lua
 * scripts both programs run in Redis (each atomic). See scenegend(8),
 * "Dispatch".
 *
 * A job waits in its user's list until it gets a provider slot; only then
 * is its record id added to the job stream the daemons read. So the
 * stream never holds more than the account allows, however many daemons
 * read it.
 *
 *   {scenegen}:wait:<tier>:<user>  LIST of record ids, first come first
 *                                  served (a retry or a resumed job goes
 *                                  back to the front)
 *   {scenegen}:ring:<tier>         LIST of the users of a tier with jobs
 *                                  waiting, served round robin
 *   {scenegen}:tiers               SET of tiers with a ring
 *   {scenegen}:pass                HASH tier -> pass, and "_v": start-time
 *                                  fair queuing between tiers (the active
 *                                  tier with the smallest pass is served,
 *                                  its pass grows by 1/weight; a tier that
 *                                  becomes active starts at "_v", the pass
 *                                  last served, so it cannot claim a share
 *                                  it did not wait for)
 *   {scenegen}:slots               ZSET record id -> lease expiry (Unix
 *                                  ms) of every job holding a slot; the
 *                                  heartbeat of its daemon renews it, and
 *                                  a slot of a dead daemon lapses
 *   {scenegen}:dispatch            HASH limit, lease_ms, weights: what the
 *                                  daemons publish every second
 *   {scenegen}:owner               HASH record id -> "<tier> <user>" of
 *                                  jobs parked in the delayed set
 *
 * Every script ends with TAKE: while a slot is free and a job waits, the
 * next job by tier weight, then user turn, then age takes a slot and
 * goes to the stream.
 */
#ifndef SCENEGEN_DISPATCH_H
#define SCENEGEN_DISPATCH_H

#define KEY_WAIT_PREFIX "{scenegen}:wait:"
#define KEY_RING_PREFIX "{scenegen}:ring:"
#define KEY_TIERS	"{scenegen}:tiers"
#define KEY_PASS	"{scenegen}:pass"
#define KEY_SLOTS	"{scenegen}:slots"
#define KEY_DISPATCH	"{scenegen}:dispatch"
#define KEY_OWNER	"{scenegen}:owner"

/*
 * The functions every script shares. KEYS of every script: 1 the job
 * stream. ARGV[1] is always now (Unix ms).
 */
#define DISPATCH_LUA_LIB \
	"local P = '{scenegen}:' " \
	"local function weights() " \
	" local w = {} " \
	" local s = redis.call('HGET', P .. 'dispatch', 'weights') or '' " \
	" for t, n in string.gmatch(s, '([^:,]+):([%d%.]+)') do " \
	"  w[t] = tonumber(n) " \
	" end " \
	" return w " \
	"end " \
	"local function tier_of(t, w) " \
	" if next(w) ~= nil and not w[t] then return 'free' end " \
	" return t " \
	"end " \
	"local function push(tier, user, id, front) " \
	" local list = P .. 'wait:' .. tier .. ':' .. user " \
	" local ring = P .. 'ring:' .. tier " \
	" if redis.call('LLEN', list) == 0 then " \
	"  if redis.call('LLEN', ring) == 0 then " \
	"   local v = tonumber(redis.call('HGET', P .. 'pass', '_v') or '0') " \
	"   local p = tonumber(redis.call('HGET', P .. 'pass', tier) or '0') " \
	"   if p < v then redis.call('HSET', P .. 'pass', tier, v) end " \
	"  end " \
	"  redis.call('RPUSH', ring, user) " \
	"  redis.call('SADD', P .. 'tiers', tier) " \
	" end " \
	" if front then redis.call('LPUSH', list, id) " \
	" else redis.call('RPUSH', list, id) end " \
	"end " \
	"local function take(now) " \
	" local c = redis.call('HMGET', P .. 'dispatch', 'limit', 'lease_ms') " \
	" local limit, lease = tonumber(c[1]), tonumber(c[2]) " \
	" if not limit or not lease then return 0 end " \
	" redis.call('ZREMRANGEBYSCORE', P .. 'slots', '-inf', now) " \
	" local free = limit - redis.call('ZCARD', P .. 'slots') " \
	" local w = weights() " \
	" local n = 0 " \
	" while free > 0 do " \
	"  local best, bp " \
	"  for _, t in ipairs(redis.call('SMEMBERS', P .. 'tiers')) do " \
	"   if redis.call('LLEN', P .. 'ring:' .. t) > 0 then " \
	"    local p = tonumber(redis.call('HGET', P .. 'pass', t) or '0') " \
	"    if not best or p < bp or (p == bp and t < best) then " \
	"     best, bp = t, p " \
	"    end " \
	"   else redis.call('SREM', P .. 'tiers', t) end " \
	"  end " \
	"  if not best then break end " \
	"  local ring = P .. 'ring:' .. best " \
	"  local user = redis.call('LPOP', ring) " \
	"  local list = P .. 'wait:' .. best .. ':' .. user " \
	"  local id = redis.call('LPOP', list) " \
	"  if redis.call('LLEN', list) > 0 then " \
	"   redis.call('RPUSH', ring, user) " \
	"  end " \
	"  redis.call('HSET', P .. 'pass', best, bp + 1 / (w[best] or 1)) " \
	"  redis.call('HSET', P .. 'pass', '_v', bp) " \
	"  if id then " \
	"   redis.call('ZADD', P .. 'slots', now + lease, id) " \
	"   redis.call('XADD', KEYS[1], '*', 'id', id) " \
	"   free = free - 1 " \
	"   n = n + 1 " \
	"  end " \
	" end " \
	" return n " \
	"end "

/*
 * A job's place in the fair order: {taken, before, limit}, whether it is
 * out of its user's list (it has a slot), and how many waiting jobs the
 * order serves before it: its own k earlier jobs, and of each other user
 * of its tier up to k + 1 jobs (users ahead of it in the ring) or k (users
 * after it), scaled by the weights of the tiers waiting over its own.
 * Each other user's share is read exactly while the ring holds at most
 * DISPATCH_PLACE_SAMPLE other users; past that, from the first ones
 * (their mean share times the users ahead and after), and its own place
 * in the ring is looked for among the last DISPATCH_PLACE_SAMPLE users
 * only (a user who just got a job is at its tail; one not found there is
 * taken to be in the middle), so that an enqueue costs about the same
 * with 30 users waiting or 10,000. The first job of a user who had none
 * waiting (k = 0) is exact either way: one job of each user ahead of it.
 * pushed says the job was just pushed at the back of its user's list
 * (ENQUEUE): TAKE pops from the front only, so it is still the list's
 * last (k is its length less one) or has a slot, and no walk of a user's
 * thousands of waiting jobs is needed; else it is looked up (LPOS).
 */
#define DISPATCH_PLACE_SAMPLE "32"
#define DISPATCH_LUA_PLACE_FN \
	"local function place(tier, user, id, w, pushed) " \
	" local limit = tonumber(redis.call('HGET', P .. 'dispatch', " \
	"  'limit') or '0') " \
	" local list = P .. 'wait:' .. tier .. ':' .. user " \
	" local k " \
	" if not pushed then k = redis.call('LPOS', list, id) " \
	" elseif redis.call('LINDEX', list, -1) == id then " \
	"  k = redis.call('LLEN', list) - 1 " \
	" end " \
	" if not k then return {1, 0, limit} end " \
	" local rk = P .. 'ring:' .. tier " \
	" local n = redis.call('LLEN', rk) " \
	" local s = " DISPATCH_PLACE_SAMPLE " " \
	" local ahead " \
	" if n - 1 <= s then ahead = redis.call('LPOS', rk, user) or n " \
	" else " \
	"  ahead = redis.call('LPOS', rk, user, 'RANK', -1, 'MAXLEN', s) " \
	"   or math.floor((n - 1) / 2) " \
	" end " \
	" local after = n - ahead - 1 " \
	" if after < 0 then after = 0 end " \
	" local seen, sum1, sum0, i = 0, 0, 0, 0 " \
	" for _, u in ipairs(redis.call('LRANGE', rk, 0, s)) do " \
	"  if u ~= user and seen < s then " \
	"   local len = redis.call('LLEN', P .. 'wait:' .. tier .. ':' .. u) " \
	"   if n - 1 <= s then " \
	"    if i < ahead then sum1 = sum1 + math.min(len, k + 1) " \
	"    else sum0 = sum0 + math.min(len, k) end " \
	"   else " \
	"    sum1 = sum1 + math.min(len, k + 1) " \
	"    sum0 = sum0 + math.min(len, k) " \
	"   end " \
	"   seen = seen + 1 " \
	"  end " \
	"  i = i + 1 " \
	" end " \
	" local before = k " \
	" if n - 1 <= s then before = before + sum1 + sum0 " \
	" elseif seen > 0 then " \
	"  before = before + math.floor((ahead * sum1 + after * sum0) / seen) " \
	" end " \
	" local wsum, wt = 0, w[tier] or 1 " \
	" for _, t in ipairs(redis.call('SMEMBERS', P .. 'tiers')) do " \
	"  if redis.call('LLEN', P .. 'ring:' .. t) > 0 then " \
	"   wsum = wsum + (w[t] or 1) " \
	"  end " \
	" end " \
	" if wsum > wt then before = math.floor(before * wsum / wt) end " \
	" return {0, before, limit} " \
	"end "

/*
 * The API's enqueue. ARGV: now, tier, user, record id. Pushes the job at
 * the back of its user's list, runs TAKE and returns its place.
 */
#define DISPATCH_LUA_ENQUEUE \
	DISPATCH_LUA_LIB \
	DISPATCH_LUA_PLACE_FN \
	"local now = tonumber(ARGV[1]) " \
	"local w = weights() " \
	"local tier = tier_of(ARGV[2], w) " \
	"local user, id = ARGV[3], ARGV[4] " \
	"push(tier, user, id, false) " \
	"take(now) " \
	"return place(tier, user, id, w, true)"

/*
 * A waiting job's place, for the status document. ARGV: now, tier, user,
 * record id. Returns {taken, before, limit} as ENQUEUE does: taken is 1
 * when the job is not waiting in its user's list (it has a slot).
 */
#define DISPATCH_LUA_PLACE \
	DISPATCH_LUA_LIB \
	DISPATCH_LUA_PLACE_FN \
	"local w = weights() " \
	"return place(tier_of(ARGV[2], w), ARGV[3], ARGV[4], w)"

/*
 * The daemons' tick. ARGV: now, limit, lease ms, weights. Publishes the
 * settings and runs TAKE (slots of dead daemons lapse here). Returns the
 * number of jobs that took a slot.
 */
#define DISPATCH_LUA_TICK \
	DISPATCH_LUA_LIB \
	"redis.call('HSET', P .. 'dispatch', 'limit', ARGV[2], 'lease_ms', " \
	" ARGV[3], 'weights', ARGV[4]) " \
	"return take(tonumber(ARGV[1]))"

/*
 * A daemon read an entry. ARGV: now, record id. The job runs when its
 * record holds a live slot (renewed here), or when a slot is free and no
 * one waits; otherwise (an entry added outside dispatch: an older API,
 * a hand-written XADD) it waits, as its own user of tier free. KEYS[2]
 * the consumer group's stream name again is not needed: ARGV[3] group,
 * ARGV[4] entry id, to ack a parked entry. Returns 1: run, 0: parked.
 */
#define DISPATCH_LUA_ADMIT \
	DISPATCH_LUA_LIB \
	"local now, id = tonumber(ARGV[1]), ARGV[2] " \
	"local c = redis.call('HMGET', P .. 'dispatch', 'limit', 'lease_ms') " \
	"local limit, lease = tonumber(c[1]), tonumber(c[2]) " \
	"if not limit or not lease then return 1 end " \
	"local s = redis.call('ZSCORE', P .. 'slots', id) " \
	"if s and tonumber(s) > now then " \
	" redis.call('ZADD', P .. 'slots', now + lease, id) " \
	" return 1 " \
	"end " \
	"redis.call('ZREMRANGEBYSCORE', P .. 'slots', '-inf', now) " \
	"if redis.call('ZCARD', P .. 'slots') < limit and " \
	"   redis.call('SCARD', P .. 'tiers') == 0 then " \
	" redis.call('ZADD', P .. 'slots', now + lease, id) " \
	" return 1 " \
	"end " \
	"push('free', '-', id, false) " \
	"redis.call('XACK', KEYS[1], ARGV[3], ARGV[4]) " \
	"redis.call('XDEL', KEYS[1], ARGV[4]) " \
	"take(now) " \
	"return 0"

/*
 * A job ends its turn. ARGV: now, group, entry id ('' if none), record
 * id, what: 'done' (final: the slot is freed), 'delay' (a retry: the slot
 * is freed, the record parks in the delayed set until ARGV[6] due ms,
 * with ARGV[7] tier and ARGV[8] user to go back to), 'back' (handed back:
 * the slot is freed, the job goes back to the front of its user's list,
 * ARGV[7] tier, ARGV[8] user). Acks the entry, runs TAKE.
 */
#define DISPATCH_LUA_RELEASE \
	DISPATCH_LUA_LIB \
	"local now, id, what = tonumber(ARGV[1]), ARGV[4], ARGV[5] " \
	"redis.call('ZREM', P .. 'slots', id) " \
	"if what == 'delay' then " \
	" redis.call('ZADD', P .. 'delayed', ARGV[6], id) " \
	" redis.call('HSET', P .. 'owner', id, ARGV[7] .. ' ' .. ARGV[8]) " \
	"elseif what == 'back' then " \
	" push(tier_of(ARGV[7], weights()), ARGV[8], id, true) " \
	"end " \
	"if ARGV[3] ~= '' then " \
	" redis.call('XACK', KEYS[1], ARGV[2], ARGV[3]) " \
	" redis.call('XDEL', KEYS[1], ARGV[3]) " \
	"end " \
	"take(now) " \
	"return 1"

/*
 * The janitor: due retries back to the front of their user's list (or,
 * parked before dispatch knew their user, as the free tier's "-").
 * ARGV: now, batch. Returns how many moved.
 */
#define DISPATCH_LUA_MOVE_DUE \
	DISPATCH_LUA_LIB \
	"local now = tonumber(ARGV[1]) " \
	"local due = redis.call('ZRANGEBYSCORE', P .. 'delayed', '-inf', " \
	" now, 'LIMIT', 0, tonumber(ARGV[2])) " \
	"local w = weights() " \
	"for i = 1, #due do " \
	" local o = redis.call('HGET', P .. 'owner', due[i]) " \
	" local tier, user = 'free', '-' " \
	" if o then tier, user = string.match(o, '^(%S+) (%S+)$') end " \
	" if not tier then tier, user = 'free', '-' end " \
	" push(tier_of(tier, w), user, due[i], true) " \
	" redis.call('ZREM', P .. 'delayed', due[i]) " \
	" redis.call('HDEL', P .. 'owner', due[i]) " \
	"end " \
	"take(now) " \
	"return #due"

/*
 * The sweeper: records PostgreSQL says are unattended and Redis does not
 * hold (not in the stream, which the caller checked; not delayed; not
 * waiting in their user's list) go to the back of their user's list.
 * ARGV: now, then triples record id, tier, user. Returns how many.
 */
#define DISPATCH_LUA_SWEEP \
	DISPATCH_LUA_LIB \
	"local w = weights() " \
	"local n = 0 " \
	"for i = 2, #ARGV - 2, 3 do " \
	" local id, tier, user = ARGV[i], tier_of(ARGV[i + 1], w), " \
	"  ARGV[i + 2] " \
	" if not redis.call('ZSCORE', P .. 'delayed', id) and " \
	"    not redis.call('LPOS', P .. 'wait:' .. tier .. ':' .. user, " \
	"     id) and " \
	"    not redis.call('LPOS', P .. 'wait:free:-', id) then " \
	"  push(tier, user, id, false) " \
	"  n = n + 1 " \
	" end " \
	"end " \
	"take(tonumber(ARGV[1])) " \
	"return n"

/*
 * The API's admission check before a POST inserts anything. ARGV: now,
 * tier, user, quota, window seconds, most jobs waiting (0: off; quota 0:
 * no rate limit). The rate is a fixed window per user and tier; a
 * refused request does not count. Returns {0 admitted, remaining (-1:
 * no quota), seconds to the window's end}, {1 over the rate, 0, seconds
 * to the window's end} or {2 too many waiting, waiting, 0}.
 */
#define DISPATCH_LUA_ADMISSION \
	DISPATCH_LUA_LIB \
	"local now = tonumber(ARGV[1]) " \
	"local tier, user = tier_of(ARGV[2], weights()), ARGV[3] " \
	"local quota, window, maxw = tonumber(ARGV[4]), tonumber(ARGV[5]), " \
	" tonumber(ARGV[6]) " \
	"if maxw > 0 then " \
	" local n = redis.call('LLEN', P .. 'wait:' .. tier .. ':' .. user) " \
	" if n >= maxw then return {2, n, 0} end " \
	"end " \
	"if quota <= 0 then return {0, -1, 0} end " \
	"local sec = math.floor(now / 1000) " \
	"local key = P .. 'rate:' .. ARGV[2] .. ':' .. user .. ':' .. " \
	" window .. ':' .. math.floor(sec / window) " \
	"local reset = window - sec % window " \
	"local c = redis.call('INCR', key) " \
	"if c == 1 then redis.call('EXPIRE', key, window * 2) end " \
	"if c > quota then " \
	" redis.call('DECR', key) " \
	" return {1, 0, reset} " \
	"end " \
	"return {0, quota - c, reset}"

#endif

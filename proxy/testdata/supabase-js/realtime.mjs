// Drives supabase-js's Realtime client, as its documentation shows, against two Kapok servers
// (KAPOK_URL_A, KAPOK_URL_B) serving the same tenant from the same database, whose schema
// KAPOK_SCHEMA holds items (REPLICA IDENTITY FULL), plain (default replica identity) and owned
// (row-level security on the token's sub); proxy/realtimejs_test.go sets it up. Changes are
// committed through Kapok's REST API with the service_role key, one transaction per call.
// Prints one line per case: "ok <name>" or "not ok <name>: <reason>"; exits 1 on failure.
import assert from 'node:assert/strict'
import { createClient } from '@supabase/supabase-js'

const env = process.env
const schema = env.KAPOK_SCHEMA
const quiet = { auth: { persistSession: false, autoRefreshToken: false }, realtime: { timeout: 5000 } }
// client is a client of the anon key, signed in as token's user when there is one (Supabase's
// third-party auth: the accessToken option). supabase-js fixes a join's payload when
// subscribe() is called, and learns the token from the option asynchronously: waiting for it
// puts the token in every join, rather than in an access_token message after the first ones.
async function client(url, token) {
  if (!token) return createClient(url, env.KAPOK_ANON_KEY, quiet)
  const c = createClient(url, env.KAPOK_ANON_KEY, { ...quiet, accessToken: async () => token })
  await c.realtime.setAuth(token)
  return c
}

const service = createClient(env.KAPOK_URL_A, env.KAPOK_SERVICE_KEY, quiet)
// The anon clients join without an access_token, as supabase-js does right after createClient:
// the apikey of the socket's URL stands for it.
const anonA = await client(env.KAPOK_URL_A)
const anonB = await client(env.KAPOK_URL_B)
const clients = [anonA, anonB]

// A change must reach its subscribers within this long after its commit.
const DELIVERY_MS = 1000
// How long to keep listening for a delivery that must not come (a duplicate, another user's row).
const QUIET_MS = 400

const cases = []
const test = (name, fn) => cases.push({ name, fn })
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// subscribe resolves when the channel is joined, and rejects with the status and error
// supabase-js reports otherwise.
function subscribe(channel) {
  return new Promise((resolve, reject) => {
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') resolve(channel)
      else reject(Object.assign(new Error(`${status}${err ? ': ' + err.message : ''}`), { status }))
    })
  })
}

// refused resolves with the status and error of a channel of c that must not join, once
// supabase-js reports it; a socket that never opened does not count as a refusal.
function refused(c, channel) {
  return new Promise((resolve) => {
    let done = false
    const timer = setTimeout(() => finish('NO STATUS', null), 8000)
    function finish(status, err) {
      if (done) return
      done = true
      clearTimeout(timer)
      resolve({ status, err, connected: c.realtime.isConnected() })
    }
    channel.subscribe((status, err) => finish(status, err))
  })
}

// assertRefused checks a refusal: a channel error on a connection that stays open.
function assertRefused({ status, err, connected }, pattern) {
  assert.equal(status, 'CHANNEL_ERROR', `status ${status} (${err?.message})`)
  assert.ok(connected, `the connection did not stay open: ${err?.message}`)
  if (pattern) assert.match(String(err?.message), pattern)
}

// Inbox collects what a callback receives, with its arrival time.
class Inbox {
  constructor() {
    this.items = []
    this.waiters = []
    this.push = this.push.bind(this)
  }
  push(payload) {
    this.items.push({ payload, at: Date.now() })
    for (const w of this.waiters.splice(0)) w()
  }
  // waitFor resolves once n items arrived, or after ms with what there is.
  async waitFor(n, ms) {
    const deadline = Date.now() + ms
    while (this.items.length < n && Date.now() < deadline) {
      await new Promise((r) => {
        this.waiters.push(r)
        setTimeout(r, Math.max(0, deadline - Date.now()))
      })
    }
    return this.items
  }
  get payloads() {
    return this.items.map((i) => i.payload)
  }
}

// The short form of a postgres_changes payload: eventType, table and the row's id.
const brief = (p) => `${p.eventType} ${p.table} ${(p.eventType === 'DELETE' ? p.old : p.new).id}`

async function rest(promise) {
  const res = await promise
  assert.equal(res.error, null, JSON.stringify(res.error))
  return res
}

// commit runs a write and then waits until inbox holds want items, each seen within
// DELIVERY_MS of the write's return (by then it committed).
async function commit(write, inbox, want) {
  await rest(write())
  const committed = Date.now()
  const items = await inbox.waitFor(want, DELIVERY_MS)
  assert.ok(items.length >= want, `${items.length} deliveries ${DELIVERY_MS} ms after the commit, want ${want}: ${items.map((i) => brief(i.payload)).join(', ')}`)
  for (const i of items.slice(0, want)) {
    assert.ok(i.at - committed <= DELIVERY_MS, `${brief(i.payload)} arrived ${i.at - committed} ms after the commit`)
  }
}

// ---- postgres_changes on one channel with several bindings ----

const inbox = { all: new Inbox(), insert: new Inbox(), update: new Inbox(), del: new Inbox(), eq5: new Inbox(), in56: new Inbox(), plain: new Inbox() }
let changes

test('a channel with six postgres_changes bindings joins', async () => {
  changes = anonA
    .channel('changes')
    .on('postgres_changes', { event: '*', schema, table: 'items' }, inbox.all.push)
    .on('postgres_changes', { event: 'INSERT', schema, table: 'items' }, inbox.insert.push)
    .on('postgres_changes', { event: 'UPDATE', schema, table: 'items' }, inbox.update.push)
    .on('postgres_changes', { event: 'DELETE', schema, table: 'items' }, inbox.del.push)
    .on('postgres_changes', { event: '*', schema, table: 'items', filter: 'id=eq.5' }, inbox.eq5.push)
    .on('postgres_changes', { event: '*', schema, table: 'items', filter: 'id=in.(5,6)' }, inbox.in56.push)
    .on('postgres_changes', { event: '*', schema, table: 'plain' }, inbox.plain.push)
  await subscribe(changes)
})

const items = () => service.schema(schema).from('items')
test('each committed change arrives within a second', async () => {
  await commit(() => items().insert({ id: 5, name: 'five', n: 1, meta: { tags: ['a'] } }), inbox.all, 1)
  await commit(() => items().insert({ id: 6, name: 'six' }), inbox.all, 2)
  await commit(() => items().insert({ id: 7, name: 'seven' }), inbox.all, 3)
  await commit(() => items().update({ n: 2 }).eq('id', 5), inbox.all, 4)
  await commit(() => items().update({ name: 'SEVEN', done: true }).eq('id', 7), inbox.all, 5)
  await commit(() => items().delete().eq('id', 6), inbox.all, 6)
  // One transaction: update 5, delete 7, insert 8.
  await commit(() => service.schema(schema).rpc('rt_batch'), inbox.all, 9)
})

test("'*' receives every change once, in commit order", async () => {
  await sleep(QUIET_MS)
  assert.deepEqual(inbox.all.payloads.map(brief), [
    'INSERT items 5', 'INSERT items 6', 'INSERT items 7', 'UPDATE items 5', 'UPDATE items 7', 'DELETE items 6',
    'UPDATE items 5', 'DELETE items 7', 'INSERT items 8',
  ])
})
test('INSERT, UPDATE and DELETE bindings receive their own events only', async () => {
  assert.deepEqual(inbox.insert.payloads.map(brief), ['INSERT items 5', 'INSERT items 6', 'INSERT items 7', 'INSERT items 8'])
  assert.deepEqual(inbox.update.payloads.map(brief), ['UPDATE items 5', 'UPDATE items 7', 'UPDATE items 5'])
  assert.deepEqual(inbox.del.payloads.map(brief), ['DELETE items 6', 'DELETE items 7'])
})
test('an eq filter receives the changes of its row only', async () => {
  assert.deepEqual(inbox.eq5.payloads.map(brief), ['INSERT items 5', 'UPDATE items 5', 'UPDATE items 5'])
})
test('an in filter receives the changes of its rows, deletes included', async () => {
  assert.deepEqual(inbox.in56.payloads.map(brief), ['INSERT items 5', 'INSERT items 6', 'UPDATE items 5', 'DELETE items 6', 'UPDATE items 5'])
})

test('an insert payload carries the typed row and a commit timestamp', async () => {
  const p = inbox.all.payloads[0]
  assert.equal(p.schema, schema)
  assert.equal(p.table, 'items')
  assert.equal(p.eventType, 'INSERT')
  assert.deepEqual(p.new, { id: 5, name: 'five', n: 1, done: false, meta: { tags: ['a'] } })
  assert.deepEqual(p.old, {})
  assert.ok(!p.errors || p.errors.length === 0, `errors ${JSON.stringify(p.errors)}`)
  const ts = Date.parse(p.commit_timestamp)
  assert.ok(Number.isFinite(ts) && Math.abs(Date.now() - ts) < 60000, `commit_timestamp ${p.commit_timestamp}`)
  const stamps = inbox.all.payloads.map((q) => Date.parse(q.commit_timestamp))
  assert.deepEqual(stamps, [...stamps].sort((a, b) => a - b), 'commit timestamps out of order')
  const batch = inbox.all.payloads.slice(6).map((q) => q.commit_timestamp)
  assert.ok(batch.every((s) => s === batch[0]), `one transaction, several commit timestamps: ${batch}`)
})
test('with REPLICA IDENTITY FULL, update and delete carry the whole old row', async () => {
  const [u5, u7, d6] = [inbox.all.payloads[3], inbox.all.payloads[4], inbox.all.payloads[5]]
  assert.deepEqual(u5.new, { id: 5, name: 'five', n: 2, done: false, meta: { tags: ['a'] } })
  assert.deepEqual(u5.old, { id: 5, name: 'five', n: 1, done: false, meta: { tags: ['a'] } })
  assert.deepEqual(u7.new, { id: 7, name: 'SEVEN', n: 0, done: true, meta: null })
  assert.deepEqual(u7.old, { id: 7, name: 'seven', n: 0, done: false, meta: null })
  assert.deepEqual(d6.new, {})
  assert.deepEqual(d6.old, { id: 6, name: 'six', n: 0, done: false, meta: null })
})

const plain = () => service.schema(schema).from('plain')
test('with the default replica identity, update and delete carry the old primary key', async () => {
  await commit(() => plain().insert({ id: 1, name: 'one' }), inbox.plain, 1)
  await commit(() => plain().update({ name: 'ONE' }).eq('id', 1), inbox.plain, 2)
  await commit(() => plain().delete().eq('id', 1), inbox.plain, 3)
  await sleep(QUIET_MS)
  const [i, u, d] = inbox.plain.payloads
  assert.equal(inbox.plain.items.length, 3, inbox.plain.payloads.map(brief).join(', '))
  assert.deepEqual([i.eventType, i.new, i.old], ['INSERT', { id: 1, name: 'one' }, {}])
  assert.deepEqual([u.eventType, u.new, u.old], ['UPDATE', { id: 1, name: 'ONE' }, { id: 1 }])
  assert.deepEqual([d.eventType, d.new, d.old], ['DELETE', {}, { id: 1 }])
  assert.equal(inbox.all.items.length, 9, 'a change to plain reached the items bindings')
})

// ---- row-level security ----

const alice = await client(env.KAPOK_URL_A, env.KAPOK_JWT_ALICE)
const bob = await client(env.KAPOK_URL_B, env.KAPOK_JWT_BOB)
clients.push(alice, bob)
const own = { alice: new Inbox(), bob: new Inbox() }
test("each user receives only the changes of the rows its policy lets it read", async () => {
  await subscribe(alice.channel('mine').on('postgres_changes', { event: '*', schema, table: 'owned' }, own.alice.push))
  await subscribe(bob.channel('mine').on('postgres_changes', { event: '*', schema, table: 'owned' }, own.bob.push))
  const owned = () => service.schema(schema).from('owned')
  await commit(() => owned().insert({ id: 1, user_id: 'alice', body: 'a1' }), own.alice, 1)
  await commit(() => owned().insert({ id: 2, user_id: 'bob', body: 'b1' }), own.bob, 1)
  await commit(() => owned().update({ body: 'b2' }).eq('id', 2), own.bob, 2)
  await commit(() => owned().update({ body: 'a2' }).eq('id', 1), own.alice, 2)
  await commit(() => owned().insert({ id: 3, user_id: 'alice', body: 'a3' }), own.alice, 3)
  await sleep(QUIET_MS)
  assert.deepEqual(own.alice.payloads.map(brief), ['INSERT owned 1', 'UPDATE owned 1', 'INSERT owned 3'])
  assert.deepEqual(own.bob.payloads.map(brief), ['INSERT owned 2', 'UPDATE owned 2'])
  assert.deepEqual(own.bob.payloads[1].new, { id: 2, user_id: 'bob', body: 'b2' })
})
test('a delete on a table with row-level security reaches its readers with the primary key only', async () => {
  await commit(() => service.schema(schema).from('owned').delete().eq('id', 2), own.alice, 4)
  await own.bob.waitFor(3, DELIVERY_MS)
  for (const [who, box] of Object.entries(own)) {
    const d = box.payloads.at(-1)
    assert.equal(d.eventType, 'DELETE', `${who}: ${box.payloads.map(brief).join(', ')}`)
    assert.deepEqual(d.old, { id: 2 }, who)
  }
})

test('a refreshed access_token changes the rows a joined channel receives', async () => {
  const c = await client(env.KAPOK_URL_B)
  clients.push(c)
  await c.realtime.setAuth(env.KAPOK_JWT_ALICE)
  const box = new Inbox()
  await subscribe(c.channel('refresh').on('postgres_changes', { event: 'INSERT', schema, table: 'owned' }, box.push))
  const owned = () => service.schema(schema).from('owned')
  await commit(() => owned().insert({ id: 10, user_id: 'alice', body: 'a10' }), box, 1)
  // supabase-js pushes an access_token event to every joined channel.
  await c.realtime.setAuth(env.KAPOK_JWT_CAROL)
  await sleep(QUIET_MS)
  await rest(owned().insert({ id: 11, user_id: 'alice', body: 'a11' }))
  await commit(() => owned().insert({ id: 12, user_id: 'carol', body: 'c12' }), box, 2)
  await sleep(QUIET_MS)
  assert.deepEqual(box.payloads.map(brief), ['INSERT owned 10', 'INSERT owned 12'])
})

// ---- broadcast between clients of two servers ----

test('broadcast with ack reaches a client of the other server, not the sender', async () => {
  const got = { a: new Inbox(), b: new Inbox() }
  const a = anonA.channel('room-1', { config: { broadcast: { ack: true, self: false } } }).on('broadcast', { event: 'msg' }, got.a.push)
  const b = anonB.channel('room-1').on('broadcast', { event: 'msg' }, got.b.push)
  await Promise.all([subscribe(a), subscribe(b)])
  assert.equal(await a.send({ type: 'broadcast', event: 'msg', payload: { text: 'hi', n: 1 } }), 'ok')
  await got.b.waitFor(1, DELIVERY_MS)
  await sleep(QUIET_MS)
  assert.deepEqual(got.b.payloads, [{ type: 'broadcast', event: 'msg', payload: { text: 'hi', n: 1 } }])
  assert.equal(got.a.items.length, 0, 'self: false, yet the sender received its message')
})
test('broadcast with self receives its own message, and other events are not delivered', async () => {
  const got = { a: new Inbox(), b: new Inbox(), other: new Inbox() }
  const a = anonA.channel('room-2', { config: { broadcast: { self: true } } }).on('broadcast', { event: 'msg' }, got.a.push)
  const b = anonB.channel('room-2').on('broadcast', { event: 'msg' }, got.b.push).on('broadcast', { event: 'other' }, got.other.push)
  await Promise.all([subscribe(a), subscribe(b)])
  for (const n of [1, 2, 3]) assert.equal(await a.send({ type: 'broadcast', event: 'msg', payload: { n } }), 'ok')
  await Promise.all([got.a.waitFor(3, DELIVERY_MS), got.b.waitFor(3, DELIVERY_MS)])
  await sleep(QUIET_MS)
  assert.deepEqual(got.a.payloads.map((p) => p.payload.n), [1, 2, 3])
  assert.deepEqual(got.b.payloads.map((p) => p.payload.n), [1, 2, 3])
  assert.equal(got.other.items.length, 0)
})
test("a broadcast stays in its channel", async () => {
  const got = new Inbox()
  const a = anonA.channel('room-3')
  const b = anonB.channel('room-4').on('broadcast', { event: '*' }, got.push)
  await Promise.all([subscribe(a), subscribe(b)])
  assert.equal(await a.send({ type: 'broadcast', event: 'msg', payload: {} }), 'ok')
  await sleep(QUIET_MS + 300)
  assert.equal(got.items.length, 0)
})

// ---- presence between clients of two servers ----

const keysOf = (ch) => Object.keys(ch.presenceState()).sort()
async function until(what, cond, ms = 2000) {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${ms} ms`)
    await sleep(25)
  }
}

test('presence state syncs across servers, and untrack and disconnect leave', async () => {
  const p1 = await client(env.KAPOK_URL_A)
  clients.push(p1)
  const leaves = new Inbox()
  const one = p1.channel('lobby', { config: { presence: { key: 'u1' } } })
  const two = anonB.channel('lobby', { config: { presence: { key: 'u2' } } }).on('presence', { event: 'leave' }, leaves.push)
  one.on('presence', { event: 'sync' }, () => {})
  two.on('presence', { event: 'sync' }, () => {})
  await Promise.all([subscribe(one), subscribe(two)])
  assert.equal(await one.track({ name: 'one' }), 'ok')
  assert.equal(await two.track({ name: 'two' }), 'ok')
  await until('both see u1 and u2', () => keysOf(one).join() === 'u1,u2' && keysOf(two).join() === 'u1,u2')
  const seen = two.presenceState().u1
  assert.equal(seen.length, 1)
  assert.equal(seen[0].name, 'one')
  assert.ok(seen[0].presence_ref, 'a presence without presence_ref')

  assert.equal(await one.untrack(), 'ok')
  await until('u1 left after untrack', () => keysOf(two).join() === 'u2')
  assert.equal(leaves.payloads.at(-1).key, 'u1')

  assert.equal(await one.track({ name: 'one again' }), 'ok')
  await until('u1 back', () => two.presenceState().u1?.[0]?.name === 'one again')
  await p1.realtime.disconnect()
  await until('u1 left after its client disconnected', () => keysOf(two).join() === 'u2', 5000)
})

// ---- refusals ----

test('a bad token is refused with a channel error', async () => {
  const c = await client(env.KAPOK_URL_A, 'not.a.token')
  clients.push(c)
  assertRefused(await refused(c, c.channel('bad').on('postgres_changes', { event: '*', schema, table: 'items' }, () => {})))
})
test('an expired token is refused with a channel error', async () => {
  const c = await client(env.KAPOK_URL_B, env.KAPOK_JWT_EXPIRED)
  clients.push(c)
  assertRefused(await refused(c, c.channel('expired').on('postgres_changes', { event: '*', schema, table: 'items' }, () => {})))
})
// As with Supabase, a join does not wait for its postgres_changes unless asked to: a binding
// on an unknown table or column joins, then gets a system message with the error; with
// postgres_changes_options.wait the join itself fails.
test('a binding on an unknown table or column gets a system error, and the channel stays joined', async () => {
  for (const [name, binding, pattern] of [
    ['nope', { table: 'no_such_table' }, /no_such_table/],
    ['badcol', { table: 'items', filter: 'no_such_column=eq.1' }, /no_such_column/],
  ]) {
    const system = new Inbox()
    const ch = anonA.channel(name).on('postgres_changes', { event: '*', schema, ...binding }, () => {}).on('system', {}, system.push)
    await subscribe(ch)
    await system.waitFor(1, DELIVERY_MS)
    const [msg] = system.payloads
    assert.equal(msg?.extension, 'postgres_changes', JSON.stringify(system.payloads))
    assert.equal(msg.status, 'error')
    assert.match(msg.message, pattern)
    assert.equal(ch.state, 'joined')
    await ch.unsubscribe()
  }
})
test('with postgres_changes_options.wait, a channel on an unknown table or column errors and the other channels keep receiving', async () => {
  const wait = { config: { postgres_changes_options: { wait: true } } }
  assertRefused(await refused(anonA, anonA.channel('nope-wait', wait).on('postgres_changes', { event: '*', schema, table: 'no_such_table' }, () => {})), /no_such_table/)
  assertRefused(await refused(anonA, anonA.channel('badcol-wait', wait).on('postgres_changes', { event: '*', schema, table: 'items', filter: 'no_such_column=eq.1' }, () => {})), /no_such_column/)
  const before = inbox.all.items.length
  await commit(() => items().insert({ id: 9, name: 'nine' }), inbox.all, before + 1)
  assert.equal(brief(inbox.all.payloads.at(-1)), 'INSERT items 9')
})

let failed = 0
for (const c of cases) {
  try {
    await c.fn()
    console.log('ok ' + c.name)
  } catch (e) {
    failed++
    const why = e && e.message ? e.message.replace(/\n/g, ' ') : String(e)
    console.log('not ok ' + c.name + ': ' + why)
  }
}
await Promise.race([Promise.all(clients.map((c) => c.removeAllChannels().catch(() => {}))), sleep(3000)])
process.exit(failed ? 1 : 0)

// Drives the real graphql-ws client (protocol graphql-transport-ws) and the legacy
// subscriptions-transport-ws client (protocol graphql-ws) against a Kapok server whose
// default tenant serves the proxy_t_gqlws fixture: items, others, and notes under row-level
// security by the JWT's sub. Writes go through the same server's HTTP GraphQL endpoint with
// the admin secret, so every update a subscriber sees was committed by another request.
//
// Environment: KAPOK_WS_URL and KAPOK_TENANT_WS_URL (ws://…/v1/graphql, ws://…/t/NAME/v1/graphql),
// KAPOK_HTTP_URL (http://…/v1/graphql), KAPOK_JWT_SECRET (HS256), KAPOK_ADMIN_SECRET and
// KAPOK_ROLE (the role the users' tokens name).
// Prints one line per case: "ok <name>", "not ok <name>: <reason>", or "pending <name>:
// <reason>"; lines starting with "#" are notes (measured latencies). Exits 1 on failure.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient } from 'graphql-ws'
import { SubscriptionClient } from 'subscriptions-transport-ws'
import WebSocket from 'ws'

const WS_URL = process.env.KAPOK_WS_URL
const TENANT_WS_URL = process.env.KAPOK_TENANT_WS_URL
const HTTP_URL = process.env.KAPOK_HTTP_URL
const SECRET = process.env.KAPOK_JWT_SECRET
const ADMIN = process.env.KAPOK_ADMIN_SECRET
const ROLE = process.env.KAPOK_ROLE

// The latency the issue promises between a commit and the pushed update.
const LIMIT_MS = 1000
// How long a subscriber must stay silent to count as "nothing arrived".
const QUIET_MS = 1500

// jwt signs claims with HS256, as an identity provider sharing the tenant's secret would.
function jwt(claims, secret = SECRET) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const unsigned = part({ alg: 'HS256', typ: 'JWT' }) + '.' + part(claims)
  return unsigned + '.' + createHmac('sha256', secret).update(unsigned).digest('base64url')
}
const now = () => Math.floor(Date.now() / 1000)
const userToken = (sub, ttl = 3600) => jwt({ sub: String(sub), role: ROLE, exp: now() + ttl })
// Hasura's connection_init payload carries headers; many clients send them flat.
const hasuraStyle = (token) => ({ headers: { Authorization: 'Bearer ' + token } })
const flatStyle = (token) => ({ Authorization: 'Bearer ' + token })
const adminParams = { headers: { 'x-hasura-admin-secret': ADMIN } }

// http runs a GraphQL operation over HTTP as the admin (row-level security does not apply).
async function http(query, variables) {
  const res = await fetch(HTTP_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hasura-admin-secret': ADMIN },
    body: JSON.stringify({ query, variables }),
  })
  const body = await res.json()
  if (res.status !== 200 || body.errors) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`)
  return body.data
}
const allItems = async () => (await http('{ items(order_by: {id: asc}) { id label } }')).items
const insertItem = async (label) =>
  (await http('mutation($l: String!) { insert_items_one(object: {label: $l}) { id label } }', { l: label })).insert_items_one
const insertItems = async (labels) =>
  (await http('mutation($o: [items_insert_input!]!) { insert_items(objects: $o) { returning { id label } } }',
    { o: labels.map((label) => ({ label })) })).insert_items.returning.sort((a, b) => a.id - b.id)
const relabel = async (id, label) =>
  (await http('mutation($id: Int!, $l: String!) { update_items_by_pk(pk_columns: {id: $id}, _set: {label: $l}) { id label } }', { id, l: label })).update_items_by_pk
const deleteItem = async (id) => (await http('mutation($id: Int!) { delete_items_by_pk(id: $id) { id } }', { id })).delete_items_by_pk
const insertOther = async (v) => (await http('mutation($v: Int!) { insert_others_one(object: {v: $v}) { id } }', { v })).insert_others_one
const insertNote = async (owner, body) =>
  (await http('mutation($o: Int!, $b: String!) { insert_notes_one(object: {owner: $o, body: $b}) { id owner body } }', { o: owner, b: body })).insert_notes_one
const notesOf = async (owner) => (await http('query($o: Int!) { notes(where: {owner: {_eq: $o}}, order_by: {id: asc}) { id owner body } }', { o: owner })).notes
const allNotes = async () => (await http('{ notes(order_by: {id: asc}) { id owner body } }')).notes

// Inbox queues what a client hands over (results, errors, completions, close events) with
// the time it arrived, and lets a case wait for the next one or assert that none comes.
class Inbox {
  items = []
  wake = null
  push(ev) {
    this.items.push({ ...ev, at: performance.now() })
    if (this.wake) this.wake()
  }
  async take(ms, what) {
    const deadline = performance.now() + ms
    while (!this.items.length) {
      const left = deadline - performance.now()
      if (left <= 0) throw new Error(`no ${what} within ${ms} ms`)
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left)
        this.wake = () => { clearTimeout(t); resolve() }
      })
      this.wake = null
    }
    return this.items.shift()
  }
  async quiet(ms, what) {
    await sleep(ms)
    if (this.items.length) throw new Error(`expected no ${what} within ${ms} ms, got ${describe(this.items[0])}`)
  }
}

function describe(ev) {
  switch (ev.kind) {
    case 'next': return 'result ' + JSON.stringify(ev.value)
    case 'complete': return 'complete'
    case 'error': {
      const e = ev.error
      if (e && typeof e === 'object' && 'code' in e && 'reason' in e) return `socket closed ${e.code} ${e.reason}`
      if (e && typeof e.message === 'string') return 'error ' + e.message
      return 'error ' + JSON.stringify(e)
    }
    default: return JSON.stringify(ev)
  }
}

// Connections opened by the running case, closed after it whatever its outcome.
let opened = []

// Each protocol opens a connection with a connection_init payload and returns
// { subscribe(payload, sink) -> stop, close() }, and what the protocol tells of the
// connection itself: close events (closes) or connection_ack / connection_error (inits).
const transportWS = {
  name: 'graphql-transport-ws',
  connect(params, url = WS_URL) {
    const closes = new Inbox()
    const client = createClient({
      url,
      webSocketImpl: WebSocket,
      connectionParams: params,
      retryAttempts: 0,
      on: { closed: (e) => closes.push({ kind: 'closed', code: e.code, reason: String(e.reason) }) },
    })
    const conn = {
      subscribe: (payload, sink) => client.subscribe(payload, sink),
      closes,
      close: () => client.dispose(),
    }
    opened.push(conn)
    return conn
  },
}

const legacyWS = {
  name: 'graphql-ws',
  connect(params, url = WS_URL) {
    const inits = new Inbox()
    const client = new SubscriptionClient(url, {
      connectionParams: params,
      reconnect: false,
      connectionCallback: (error) => inits.push(error ? { kind: 'connection_error', error } : { kind: 'ack' }),
    }, WebSocket)
    // The client tells its operations nothing of a failed or closed socket; keep it for
    // the reason of a case that waited in vain.
    const trouble = []
    client.onError((e) => trouble.push('socket error: ' + (e?.message ?? JSON.stringify(e))))
    client.onDisconnected(() => {
      trouble.push('socket closed')
      inits.push({ kind: 'socket closed' })
    })
    const conn = {
      subscribe(payload, sink) {
        const s = client.request(payload).subscribe(sink)
        return () => s.unsubscribe()
      },
      trouble,
      inits,
      close: () => client.close(),
    }
    opened.push(conn)
    return conn
  },
}

// watch starts one operation on conn and queues what it receives.
function watch(conn, query, variables) {
  const inbox = new Inbox()
  const stop = conn.subscribe({ query, variables }, {
    next: (value) => inbox.push({ kind: 'next', value }),
    error: (error) => inbox.push({ kind: 'error', error }),
    complete: () => inbox.push({ kind: 'complete' }),
  })
  return {
    inbox,
    stop,
    // next is the next result, which must be data without errors.
    async next(ms = 5000) {
      const ev = await inbox.take(ms, 'result').catch((e) => {
        if (conn.trouble?.length) e.message += ` (${conn.trouble.join(', ')})`
        throw e
      })
      if (ev.kind !== 'next') throw new Error(`expected a result, got ${describe(ev)}`)
      if (ev.value.errors) throw new Error(`result with errors: ${JSON.stringify(ev.value)}`)
      return ev
    },
    async data(ms) { return (await this.next(ms)).value.data },
    quiet: (ms = QUIET_MS) => inbox.quiet(ms, 'message'),
  }
}

// pushedWithin runs write (a committed change through HTTP), takes w's next result, checks
// it against expect (a value, or a function of what write returned) and that it arrived at
// most LIMIT_MS after write started.
async function pushedWithin(w, what, write, expect) {
  const t0 = performance.now()
  const written = await write()
  const ev = await w.next(5000)
  const ms = Math.round(ev.at - t0)
  console.log(`# ${what}: ${ms} ms`)
  assert.deepEqual(ev.value.data, typeof expect === 'function' ? expect(written) : expect, what)
  assert.ok(ms <= LIMIT_MS, `${what}: the update came ${ms} ms after the write (limit ${LIMIT_MS} ms)`)
  return written
}

const cases = []
const test = (name, fn, pending = false) => cases.push({ name, fn, pending })

const LIVE = 'subscription { items(order_by: {id: asc}) { id label } }'
const NOTES = 'subscription { notes(order_by: {id: asc}) { id owner body } }'

for (const P of [transportWS, legacyWS]) {
  const sfx = ` (${P.name})`
  const tag = P === transportWS ? 'gtw' : 'gw'

  test('a live query gets its initial result, then each committed insert, update and delete within 1 s' + sfx, async () => {
    const before = await allItems()
    const w = watch(P.connect(hasuraStyle(userToken(1))), LIVE)
    assert.deepEqual(await w.data(), { items: before })
    const row = await pushedWithin(w, 'insert', () => insertItem(tag + '-live'), (r) => ({ items: [...before, r] }))
    await pushedWithin(w, 'update', () => relabel(row.id, tag + '-live-2'), { items: [...before, { id: row.id, label: tag + '-live-2' }] })
    await pushedWithin(w, 'delete', () => deleteItem(row.id), { items: before })
  })

  test('a write to an unrelated table pushes nothing' + sfx, async () => {
    const before = await allItems()
    const w = watch(P.connect(flatStyle(userToken(1))), LIVE)
    assert.deepEqual(await w.data(), { items: before })
    await insertOther(1)
    await w.quiet()
    // The subscription is still live: silence above was not a dead socket.
    await pushedWithin(w, 'insert after the unrelated write', () => insertItem(tag + '-after-others'), (r) => ({ items: [...before, r] }))
  })

  test('row-level security applies per subscriber on the same shape' + sfx, async () => {
    const [own1, own2, all] = [await notesOf(1), await notesOf(2), await allNotes()]
    assert.ok(own1.length && own2.length, 'the fixture has notes of both owners')
    const u1 = watch(P.connect(hasuraStyle(userToken(1))), NOTES)
    const u2 = watch(P.connect(flatStyle(userToken(2))), NOTES)
    const admin = watch(P.connect(adminParams), NOTES)
    assert.deepEqual(await u1.data(), { notes: own1 }, 'user 1 sees only its notes')
    assert.deepEqual(await u2.data(), { notes: own2 }, 'user 2 sees only its notes')
    assert.deepEqual(await admin.data(), { notes: all }, 'the admin sees every note')
    const n1 = await pushedWithin(u1, "user 1's insert, seen by user 1", () => insertNote(1, tag + '-one'), (n) => ({ notes: [...own1, n] }))
    assert.deepEqual(await admin.data(), { notes: [...all, n1] })
    // User 2's result did not change, so its next result is the one after its own insert.
    const n2 = await pushedWithin(u2, "user 2's insert, seen by user 2", () => insertNote(2, tag + '-two'), (n) => ({ notes: [...own2, n] }))
    assert.deepEqual(await admin.data(), { notes: [...all, n1, n2] })
    await u1.quiet(300)
  })

  test('one shape with different variables gives each subscription its own row' + sfx, async () => {
    const [a, b] = await insertItems([tag + '-var-a', tag + '-var-b'])
    const conn = P.connect(hasuraStyle(userToken(1)))
    const q = 'subscription($id: Int!) { items(where: {id: {_eq: $id}}) { id label } }'
    const wa = watch(conn, q, { id: a.id })
    const wb = watch(conn, q, { id: b.id })
    assert.deepEqual(await wa.data(), { items: [a] })
    assert.deepEqual(await wb.data(), { items: [b] })
    await pushedWithin(wa, 'update of row a', () => relabel(a.id, tag + '-var-a2'), { items: [{ id: a.id, label: tag + '-var-a2' }] })
    await pushedWithin(wb, 'update of row b', () => relabel(b.id, tag + '-var-b2'), { items: [{ id: b.id, label: tag + '-var-b2' }] })
    // Row a's subscription saw nothing of row b's update.
    await wa.quiet(300)
  })

  test('_by_pk and _aggregate subscriptions update' + sfx, async () => {
    const row = await insertItem(tag + '-pk')
    const count = (await http('{ items_aggregate { aggregate { count } } }')).items_aggregate.aggregate.count
    const conn = P.connect(flatStyle(userToken(1)))
    const pk = watch(conn, 'subscription($id: Int!) { items_by_pk(id: $id) { id label } }', { id: row.id })
    const agg = watch(conn, 'subscription { items_aggregate { aggregate { count } } }')
    assert.deepEqual(await pk.data(), { items_by_pk: row })
    assert.deepEqual(await agg.data(), { items_aggregate: { aggregate: { count } } })
    await pushedWithin(pk, 'update seen by _by_pk', () => relabel(row.id, tag + '-pk2'), { items_by_pk: { id: row.id, label: tag + '-pk2' } })
    await pushedWithin(agg, 'insert seen by _aggregate', () => insertItem(tag + '-pk-more'), { items_aggregate: { aggregate: { count: count + 1 } } })
    await pushedWithin(pk, 'delete seen by _by_pk', () => deleteItem(row.id), { items_by_pk: null })
    assert.deepEqual(await agg.data(), { items_aggregate: { aggregate: { count } } })
  })

  test('a stream sends existing rows in batches of at most 2 in id order, then new rows, never an empty batch' + sfx, async () => {
    const existing = await allItems()
    const w = watch(P.connect(hasuraStyle(userToken(1))),
      'subscription { items_stream(batch_size: 2, cursor: {initial_value: {id: 0}, ordering: ASC}) { id label } }')
    const got = []
    const take = async (n) => {
      while (got.length < n) {
        const batch = (await w.data()).items_stream
        assert.ok(Array.isArray(batch) && batch.length >= 1 && batch.length <= 2, `a batch of ${JSON.stringify(batch)}`)
        const last = got.length ? got[got.length - 1].id : 0
        assert.ok(batch.every((r, i) => r.id > (i ? batch[i - 1].id : last)),
          `the batch ${JSON.stringify(batch)} does not follow id ${last} in order`)
        got.push(...batch)
      }
    }
    await take(existing.length)
    assert.deepEqual(got, existing)
    const added = await insertItems([tag + '-s1', tag + '-s2', tag + '-s3'])
    await take(existing.length + added.length)
    assert.deepEqual(got, [...existing, ...added])
    await w.quiet(1000)
  })

  test('a query and a mutation over the socket get one result, then complete' + sfx, async () => {
    const conn = P.connect(hasuraStyle(userToken(1)))
    const q = watch(conn, 'query { items(order_by: {id: asc}) { id label } }')
    assert.deepEqual(await q.data(), { items: await allItems() })
    assert.equal((await q.inbox.take(5000, 'complete')).kind, 'complete')
    const m = watch(conn, 'mutation($l: String!) { insert_items_one(object: {label: $l}) { id label } }', { l: tag + '-socket' })
    const row = (await m.data()).insert_items_one
    assert.equal(row.label, tag + '-socket')
    assert.equal((await m.inbox.take(5000, 'complete')).kind, 'complete')
    assert.deepEqual((await http('query($id: Int!) { items_by_pk(id: $id) { id label } }', { id: row.id })).items_by_pk, row)
  })

  test('a validation error ends that operation only' + sfx, async () => {
    const conn = P.connect(flatStyle(userToken(1)))
    const good = watch(conn, LIVE)
    const before = (await good.data()).items
    const bad = watch(conn, 'subscription { items(order_by: {id: asc}) { id nope } }')
    const ev = await bad.inbox.take(5000, 'error')
    assert.equal(ev.kind, 'error', `expected an error, got ${describe(ev)}`)
    const errors = Array.isArray(ev.error) ? ev.error : [ev.error]
    assert.ok(errors.length && errors.every((e) => typeof e.message === 'string'), `errors ${JSON.stringify(ev.error)}`)
    assert.match(errors.map((e) => e.message).join(' '), /nope/)
    await pushedWithin(good, 'insert after the error', () => insertItem(tag + '-after-error'), (r) => ({ items: [...before, r] }))
    await bad.quiet(300)
  })

  test("the tenant's own path serves subscriptions too" + sfx, async () => {
    const before = await allItems()
    const w = watch(P.connect(hasuraStyle(userToken(1)), TENANT_WS_URL), LIVE)
    assert.deepEqual(await w.data(), { items: before })
    await pushedWithin(w, 'insert', () => insertItem(tag + '-tenant'), (r) => ({ items: [...before, r] }))
  })
}

test('a JWT that expires closes the socket with 4403 (graphql-transport-ws)', async () => {
  const exp = now() + 2
  const conn = transportWS.connect(hasuraStyle(jwt({ sub: '1', role: ROLE, exp })))
  const w = watch(conn, LIVE)
  await w.data()
  // The server may allow the clock skew it allows at connection_init; 10 s covers it.
  const ev = await conn.closes.take(15000, 'close')
  assert.equal(ev.code, 4403, `closed with ${ev.code} ${ev.reason}`)
  const early = exp * 1000 - (Date.now() - (performance.now() - ev.at))
  assert.ok(early <= 50, `closed ${Math.round(early)} ms before the token expired`)
  const end = await w.inbox.take(1000, 'end of the subscription')
  assert.equal(end.kind, 'error', `expected the subscription to fail, got ${describe(end)}`)
})

test('a JWT that expires ends the connection with connection_error (graphql-ws)', async () => {
  const exp = now() + 2
  const conn = legacyWS.connect(hasuraStyle(jwt({ sub: '1', role: ROLE, exp })))
  const w = watch(conn, LIVE)
  await w.data()
  assert.equal((await conn.inits.take(1000, 'connection_ack')).kind, 'ack')
  const ev = await conn.inits.take(15000, 'connection_error')
  assert.equal(ev.kind, 'connection_error', `expected connection_error, got ${ev.kind}`)
  const early = exp * 1000 - (Date.now() - (performance.now() - ev.at))
  assert.ok(early <= 50, `connection_error ${Math.round(early)} ms before the token expired`)
})

test('a bad JWT at connection_init is refused with 4403 (graphql-transport-ws)', async () => {
  const conn = transportWS.connect(hasuraStyle(jwt({ sub: '1', role: ROLE, exp: now() + 3600 }, 'not-the-secret-not-the-secret-0123')))
  const w = watch(conn, LIVE)
  const ev = await w.inbox.take(5000, 'refusal')
  assert.equal(ev.kind, 'error', `expected the subscription to fail, got ${describe(ev)}`)
  assert.equal(ev.error.code, 4403, describe(ev))
  assert.equal((await conn.closes.take(1000, 'close')).code, 4403)
})

test('a bad JWT at connection_init gets connection_error (graphql-ws)', async () => {
  const conn = legacyWS.connect(hasuraStyle(jwt({ sub: '1', role: ROLE, exp: now() + 3600 }, 'not-the-secret-not-the-secret-0123')))
  const w = watch(conn, LIVE)
  const ev = await conn.inits.take(5000, 'connection_error')
  assert.equal(ev.kind, 'connection_error', `expected connection_error, got ${ev.kind}`)
  assert.ok(ev.error, 'connection_error carries a payload')
  await sleep(500)
  const data = w.inbox.items.find((e) => e.kind === 'next')
  assert.equal(data, undefined, 'the refused connection ran the subscription')
})

// The protocols' own rules, on a raw socket.
function raw(protocol, url = WS_URL) {
  const ws = new WebSocket(url, protocol)
  const inbox = new Inbox()
  ws.on('message', (data) => inbox.push({ kind: 'message', msg: JSON.parse(String(data)) }))
  ws.on('close', (code, reason) => inbox.push({ kind: 'close', code, reason: String(reason) }))
  ws.on('error', (error) => inbox.push({ kind: 'error', error }))
  const open = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  return {
    ws,
    inbox,
    open,
    send: (m) => ws.send(JSON.stringify(m)),
    async msg(ms = 5000) {
      const ev = await inbox.take(ms, 'message')
      assert.equal(ev.kind, 'message', `expected a message, got ${ev.kind} ${ev.code ?? ''} ${ev.reason ?? ''}`)
      return ev.msg
    },
    async closed(ms = 5000) {
      for (;;) {
        const ev = await inbox.take(ms, 'close')
        if (ev.kind === 'close') return ev.code
      }
    },
    close: () => ws.terminate(),
  }
}
async function acked(protocol) {
  const s = raw(protocol)
  opened.push(s)
  await s.open
  assert.equal(s.ws.protocol, protocol, 'the server chose the subprotocol asked for')
  s.send({ type: 'connection_init', payload: adminParams })
  const ack = await s.msg()
  assert.equal(ack.type, 'connection_ack')
  return s
}

test('ping gets pong (graphql-transport-ws)', async () => {
  const s = await acked('graphql-transport-ws')
  s.send({ type: 'ping', payload: { n: 1 } })
  const m = await s.msg()
  assert.equal(m.type, 'pong')
})

test('subscribe before connection_init closes with 4401 (graphql-transport-ws)', async () => {
  const s = raw('graphql-transport-ws')
  opened.push(s)
  await s.open
  s.send({ id: '1', type: 'subscribe', payload: { query: LIVE } })
  assert.equal(await s.closed(), 4401)
})

test('a second connection_init closes with 4429 (graphql-transport-ws)', async () => {
  const s = await acked('graphql-transport-ws')
  s.send({ type: 'connection_init', payload: adminParams })
  assert.equal(await s.closed(), 4429)
})

test('a subscription id in use closes with 4409 (graphql-transport-ws)', async () => {
  const s = await acked('graphql-transport-ws')
  s.send({ id: 'x', type: 'subscribe', payload: { query: LIVE } })
  assert.equal((await s.msg()).type, 'next')
  s.send({ id: 'x', type: 'subscribe', payload: { query: LIVE } })
  assert.equal(await s.closed(), 4409)
})

test('an invalid message closes with 4400 (graphql-transport-ws)', async () => {
  const s = await acked('graphql-transport-ws')
  s.send({ type: 'no-such-type' })
  assert.equal(await s.closed(), 4400)
})

test('the server sends ka keepalives (graphql-ws)', async () => {
  const s = await acked('graphql-ws')
  for (;;) {
    const m = await s.msg(12000)
    if (m.type === 'ka') break
  }
})

let failed = 0
for (const c of cases) {
  try {
    await c.fn()
    console.log('ok ' + c.name)
  } catch (e) {
    const why = e && e.message ? e.message.replace(/\n/g, ' ') : String(e)
    if (c.pending) {
      console.log('pending ' + c.name + ': ' + why)
    } else {
      failed++
      console.log('not ok ' + c.name + ': ' + why)
    }
  } finally {
    for (const conn of opened) {
      try { await conn.close() } catch { /* already closed */ }
    }
    opened = []
  }
}
process.exit(failed ? 1 : 0)

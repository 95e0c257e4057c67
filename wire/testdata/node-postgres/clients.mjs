// Drives node-postgres (pg) against Kapok's wire port (run by wire/clients_test.go).
// KAPOK_WIRE_HOST, _PORT, _USER, _DATABASE, _PASSWORD name a scratch tenant whose table
// items holds rows 1..10 named "item <id>"; KAPOK_WIRE_CA is the CA of the port's
// certificate. Prints one line per case, "ok <name>" or "not ok <name>: <reason>", and
// exits 1 when a case failed.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import pg from 'pg'

const env = process.env
const config = {
  host: env.KAPOK_WIRE_HOST,
  port: Number(env.KAPOK_WIRE_PORT),
  user: env.KAPOK_WIRE_USER,
  database: env.KAPOK_WIRE_DATABASE,
  password: env.KAPOK_WIRE_PASSWORD,
  ssl: { ca: readFileSync(env.KAPOK_WIRE_CA) },
  connectionTimeoutMillis: 10000,
}

async function withClient (fn) {
  const client = new pg.Client(config)
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

const cases = []
const test = (name, fn) => cases.push({ name, fn })

test('connects with SCRAM over TLS verified against the CA', async () => {
  await withClient(async (c) => {
    const res = await c.query('SELECT current_user AS who')
    assert.equal(res.rows[0].who, config.user)
  })
})

test('parameterised queries bind values of several types', async () => {
  await withClient(async (c) => {
    const at = new Date('2024-02-29T12:30:00Z')
    const res = await c.query('SELECT $1::int + $2::int AS sum, $3::text AS t, $4::timestamptz AS at, $5::jsonb AS j, $6::text IS NULL AS isnull',
      [40, 2, "it's", at, JSON.stringify({ a: [1, 2] }), null])
    assert.deepEqual(res.rows[0], { sum: 42, t: "it's", at, j: { a: [1, 2] }, isnull: true })
    const items = await c.query('SELECT id, name FROM items WHERE id = ANY($1::int[]) ORDER BY id', [[2, 3]])
    assert.deepEqual(items.rows, [{ id: 2, name: 'item 2' }, { id: 3, name: 'item 3' }])
  })
})

test('a named prepared statement serves 200 transactions of each of 3 clients sharing 2 server connections', async () => {
  // pg parses a named statement once per connection and then only binds it: every
  // transaction may land on a server connection that has not seen it.
  const byID = (id) => ({ name: 'item-by-id', text: 'SELECT name, pg_backend_pid() AS pid FROM items WHERE id = $1', values: [id] })
  await Promise.all([0, 1, 2].map(() => withClient(async (c) => {
    for (let i = 0; i < 200; i++) {
      const id = (i % 10) + 1
      await c.query('BEGIN')
      const res = await c.query(byID(id))
      await c.query('COMMIT')
      assert.equal(res.rows[0].name, `item ${id}`)
    }
  })))
  // Where each transaction landed is up to timing: force one client onto the server
  // connection its statement was not prepared on. Two other clients each hold one of
  // the two connections in a transaction; the one holding the first client's keeps it.
  await withClient(async (a) => withClient(async (b) => withClient(async (c) => {
    await a.query('BEGIN')
    const first = (await a.query(byID(1))).rows[0].pid
    await a.query('COMMIT')
    const pid = async (x) => { await x.query('BEGIN'); return (await x.query('SELECT pg_backend_pid() AS pid')).rows[0].pid }
    const [pb, pc] = await Promise.all([pid(b), pid(c)])
    assert.notEqual(pb, pc, 'two open transactions on one server connection')
    const [holder, other] = pb === first ? [b, c] : [c, b]
    await other.query('COMMIT')
    await a.query('BEGIN')
    const res = await a.query(byID(7))
    await a.query('COMMIT')
    await holder.query('COMMIT')
    assert.equal(res.rows[0].name, 'item 7')
    assert.notEqual(res.rows[0].pid, first, 'the statement ran on the connection it was prepared on')
  })))
})

test('a transaction commits, and a rolled back one leaves nothing', async () => {
  await withClient(async (c) => {
    await c.query('BEGIN')
    await c.query('INSERT INTO items VALUES ($1, $2, $3)', [800, 'ivan', 'committed'])
    await c.query('COMMIT')
    await c.query('BEGIN')
    await c.query('INSERT INTO items VALUES ($1, $2, $3)', [801, 'ivan', 'rolled back'])
    await c.query('ROLLBACK')
    const res = await c.query('SELECT id FROM items WHERE id >= 800 AND id < 900 ORDER BY id')
    assert.deepEqual(res.rows, [{ id: 800 }])
  })
})

test('an error aborts the transaction until ROLLBACK, and the session goes on', async () => {
  await withClient(async (c) => {
    await c.query('BEGIN')
    await assert.rejects(c.query('SELECT 1 / $1::int', [0]), { code: '22012' })
    await assert.rejects(c.query('SELECT 1'), { code: '25P02' })
    await c.query('ROLLBACK')
    const res = await c.query('SELECT count(*)::int AS n FROM items WHERE id <= 10')
    assert.equal(res.rows[0].n, 10)
  })
})

let failed = false
for (const { name, fn } of cases) {
  try {
    await fn()
    console.log(`ok ${name}`)
  } catch (e) {
    failed = true
    console.log(`not ok ${name}: ${String(e && e.message).replace(/\n/g, ' ')}`)
    console.error(e)
  }
}
process.exit(failed ? 1 : 0)

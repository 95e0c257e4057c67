// Drives @supabase/supabase-js exactly as its README shows, against a Kapok server serving
// the rest_t_ blog fixture as the default tenant: createClient(url, key) and nothing else.
// KAPOK_URL is the server root; KAPOK_ANON_KEY and KAPOK_SERVICE_KEY are the tenant's keys.
// Prints one line per case: "ok <name>", "not ok <name>: <reason>", or "pending <name>:
// <reason>" for a case of a feature not served yet; exits 1 on failure.
import assert from 'node:assert/strict'
import { createClient } from '@supabase/supabase-js'

const url = process.env.KAPOK_URL
const supabase = createClient(url, process.env.KAPOK_ANON_KEY)
const service = createClient(url, process.env.KAPOK_SERVICE_KEY)

const cases = []
const test = (name, fn, pending = false) => cases.push({ name, fn, pending })

function ok(res, data, status) {
  assert.equal(res.error, null, JSON.stringify(res.error))
  assert.deepEqual(res.data, data)
  if (status !== undefined) assert.equal(res.status, status)
}
const ids = (res) => {
  assert.equal(res.error, null, JSON.stringify(res.error))
  return res.data.map((r) => r.id)
}

// Reads with the anon key.
test('select with a to-many embed', async () => {
  ok(await supabase.from('authors').select('name, articles(title)').eq('id', 1).order('id', { referencedTable: 'articles' }),
    [{ name: 'Ada', articles: [{ title: 'Engines' }, { title: 'Notes' }] }], 200)
})
test('select with a to-one embed', async () => {
  ok(await supabase.from('articles').select('title, authors(name)').eq('id', 3), [{ title: 'Unix', authors: { name: 'Brian' } }])
})
test('select with a many-to-many embed', async () => {
  ok(await supabase.from('articles').select('title, tags(name)').eq('id', 4).order('id', { referencedTable: 'tags' }),
    [{ title: 'C', tags: [{ name: 'classic' }, { name: 'systems' }] }])
})
test('eq', async () => { ok(await supabase.from('articles').select('id').eq('title', 'Notes'), [{ id: 2 }]) })
test('in', async () => { assert.deepEqual(ids(await supabase.from('authors').select('id').in('id', [1, 3]).order('id')), [1, 3]) })
test('or', async () => { assert.deepEqual(ids(await supabase.from('articles').select('id').or('views.gt.30,title.eq.Unix').order('id')), [3, 4]) })
test('ilike', async () => { assert.deepEqual(ids(await supabase.from('authors').select('id').ilike('name', 'c%')), [3]) })
test('range with an exact count', async () => {
  const res = await supabase.from('articles').select('id', { count: 'exact' }).order('id').range(1, 2)
  assert.equal(res.error, null, JSON.stringify(res.error))
  assert.deepEqual(res.data, [{ id: 2 }, { id: 3 }])
  assert.equal(res.count, 4)
})
test('single', async () => { ok(await supabase.from('authors').select('name').eq('id', 1).single(), { name: 'Ada' }, 200) })
test('maybeSingle with no row', async () => { ok(await supabase.from('authors').select('name').eq('id', 99).maybeSingle(), null) })

// Writes with the anon key.
test('insert with select', async () => { ok(await supabase.from('tags').insert({ id: 10, name: 'ten' }).select(), [{ id: 10, name: 'ten' }], 201) })
test('upsert with select: 200 when it only updates (PostgREST v12)', async () => { ok(await supabase.from('tags').upsert({ id: 10, name: 'TEN' }).select(), [{ id: 10, name: 'TEN' }], 200) })
test('update with select', async () => {
  ok(await supabase.from('tags').update({ name: 'Ten' }).eq('id', 10).select('id, name'), [{ id: 10, name: 'Ten' }], 200)
})
test('delete with select', async () => { ok(await supabase.from('tags').delete().eq('id', 10).select(), [{ id: 10, name: 'Ten' }], 200) })
test('rpc', async () => { ok(await supabase.rpc('add', { a: 1, b: 2 }), 3, 200) })
test('rpc returning rows, filtered', async () => { ok(await supabase.rpc('view_stats').eq('author_id', 2), [{ author_id: 2, total: 47 }]) })

// The service_role key: the tenant's own role.
test('the service_role key runs as the tenant role', async () => {
  const res = await service.rpc('whoami')
  assert.equal(res.error, null, JSON.stringify(res.error))
  assert.notEqual(res.data, 'rest_t_anon')
})
test('the service_role key reads a table the anon key may not', async () => {
  ok(await service.from('secrets').select('id'), [{ id: 1 }])
  const res = await supabase.from('secrets').select('id')
  assert.notEqual(res.error, null)
  assert.equal(res.error.code, '42501')
})

// Kapok Auth is off for a tenant without auth.users, and says so.
test('auth says it is not enabled for the tenant', async () => {
  const { error } = await supabase.auth.signInWithPassword({ email: 'a@example.com', password: 'secret-password' })
  assert.ok(error, 'expected an error')
  assert.match(error.message, /Kapok Auth is not enabled for this tenant/)
  assert.equal(error.status, 404)
  assert.equal(error.code, 'not_found')
})

// Supabase APIs Kapok does not serve say so.
test('storage says it is not served', async () => {
  const { error } = await supabase.storage.listBuckets()
  assert.ok(error, 'expected an error')
  assert.match(error.message, /Kapok does not serve Supabase Storage/)
})
test('functions say they are not served', async () => {
  const { error } = await supabase.functions.invoke('hello', { body: { name: 'x' } })
  assert.ok(error, 'expected an error')
  assert.equal(error.context.status, 501)
  const body = await error.context.json()
  assert.match(body.message, /Kapok does not serve Supabase Edge Functions/)
})

// Aggregates next to embeds, the usual list-page pattern.
test('count of an embedded relation', async () => {
  ok(await supabase.from('authors').select('name, articles(count)').order('id'),
    [{ name: 'Ada', articles: [{ count: 2 }] }, { name: 'Brian', articles: [{ count: 2 }] }, { name: 'Cleo', articles: [{ count: 0 }] }])
})
test('sum of an embedded column', async () => {
  ok(await supabase.from('authors').select('id, articles(views.sum())').eq('id', 1), [{ id: 1, articles: [{ sum: 35 }] }])
})
test('count of an embedded column', async () => {
  ok(await supabase.from('authors').select('id, articles(id.count())').eq('id', 2), [{ id: 2, articles: [{ count: 2 }] }])
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
      continue
    }
    failed++
    console.log('not ok ' + c.name + ': ' + why)
  }
}
process.exit(failed ? 1 : 0)

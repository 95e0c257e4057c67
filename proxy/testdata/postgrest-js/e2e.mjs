// Drives @supabase/postgrest-js against a Kapok server serving the rest_t_ blog fixture.
// KAPOK_REST_URL is the REST root, e.g. http://127.0.0.1:1234/t/blog/rest/v1.
// Prints one line per case: "ok <name>" or "not ok <name>: <reason>"; exits 1 on failure.
import assert from 'node:assert/strict'
import { PostgrestClient } from '@supabase/postgrest-js'

const db = new PostgrestClient(process.env.KAPOK_REST_URL)

const cases = []
const test = (name, fn) => cases.push({ name, fn })

// ok checks a successful response's data (and status when given).
function ok(res, data, status) {
  assert.equal(res.error, null, JSON.stringify(res.error))
  assert.deepEqual(res.data, data)
  if (status !== undefined) assert.equal(res.status, status)
}

// fails checks an error response's status and PostgREST code.
function fails(res, status, code) {
  assert.notEqual(res.error, null, 'expected an error, got ' + JSON.stringify(res.data))
  assert.equal(res.status, status, JSON.stringify(res.error))
  assert.equal(res.error.code, code, JSON.stringify(res.error))
}

const ids = (res) => {
  assert.equal(res.error, null, JSON.stringify(res.error))
  return res.data.map((r) => r.id)
}

// Reads.
test('select embeds a to-many relation', async () => {
  ok(await db.from('authors').select('name, articles(title)').eq('id', 1).order('id', { referencedTable: 'articles' }),
    [{ name: 'Ada', articles: [{ title: 'Engines' }, { title: 'Notes' }] }], 200)
})
test('select embeds a to-one relation', async () => {
  ok(await db.from('articles').select('title, authors(name)').eq('id', 3), [{ title: 'Unix', authors: { name: 'Brian' } }])
})
test('select embeds many-to-many through the join table', async () => {
  ok(await db.from('articles').select('title, tags(name)').eq('id', 4).order('id', { referencedTable: 'tags' }),
    [{ title: 'C', tags: [{ name: 'classic' }, { name: 'systems' }] }])
})
test('select renames with an alias', async () => {
  ok(await db.from('authors').select('who:name').eq('id', 2), [{ who: 'Brian' }])
})
test('eq', async () => { ok(await db.from('articles').select('id').eq('title', 'Notes'), [{ id: 2 }]) })
test('neq', async () => { assert.deepEqual(ids(await db.from('authors').select('id').neq('id', 1).order('id')), [2, 3]) })
test('gt and lt', async () => { assert.deepEqual(ids(await db.from('articles').select('id').gt('views', 9).lt('views', 30).order('id')), [1, 2]) })
test('gte and lte', async () => { assert.deepEqual(ids(await db.from('articles').select('id').gte('views', 25).lte('views', 40).order('id')), [2, 4]) })
test('like', async () => { assert.deepEqual(ids(await db.from('authors').select('id').like('name', '%a%').order('id')), [1, 2]) })
test('ilike', async () => { assert.deepEqual(ids(await db.from('authors').select('id').ilike('name', 'c%')), [3]) })
test('in', async () => { assert.deepEqual(ids(await db.from('authors').select('id').in('id', [1, 3]).order('id')), [1, 3]) })
test('is null', async () => { assert.deepEqual(ids(await db.from('authors').select('id').is('email', null)), [3]) })
test('or', async () => { assert.deepEqual(ids(await db.from('articles').select('id').or('views.gt.30,title.eq.Unix').order('id')), [3, 4]) })
test('not', async () => { assert.deepEqual(ids(await db.from('authors').select('id').not('email', 'is', null).order('id')), [1, 2]) })
test('cs on an array', async () => { assert.deepEqual(ids(await db.from('articles').select('id').contains('labels', ['math']).order('id')), [1, 2]) })
test('cd on an array', async () => {
  assert.deepEqual(ids(await db.from('articles').select('id').containedBy('labels', ['math', 'history', 'os']).order('id')), [1, 2, 3])
})
test('ov on an array', async () => { assert.deepEqual(ids(await db.from('articles').select('id').overlaps('labels', ['os']).order('id')), [3, 4]) })
test('fts with a configuration', async () => {
  assert.deepEqual(ids(await db.from('articles').select('id').textSearch('body_tsv', 'engine', { config: 'english' }).order('id')), [1, 2])
})
test('order and range', async () => {
  const res = await db.from('articles').select('id').order('views', { ascending: false }).range(1, 2)
  assert.deepEqual(ids(res), [2, 1])
})
test('limit', async () => { assert.deepEqual(ids(await db.from('articles').select('id').order('id').limit(2)), [1, 2]) })
test('count exact with head', async () => {
  const res = await db.from('articles').select('*', { count: 'exact', head: true })
  assert.equal(res.error, null)
  assert.equal(res.count, 4)
  assert.equal(res.data, null)
})
test('count exact on a partial range is 206', async () => {
  const res = await db.from('articles').select('id', { count: 'exact' }).order('id').range(0, 1)
  ok(res, [{ id: 1 }, { id: 2 }], 206)
  assert.equal(res.count, 4)
})
test('aggregates grouped by a column', async () => {
  ok(await db.from('articles').select('author_id, views.sum(), count()').order('author_id'),
    [{ author_id: 1, sum: 35, count: 2 }, { author_id: 2, sum: 47, count: 2 }])
})
test('a bare count()', async () => { ok(await db.from('articles').select('count()'), [{ count: 4 }]) })
test('count of an embed, as Supabase list pages ask for it', async () => {
  ok(await db.from('authors').select('name, articles(count)').order('id'),
    [{ name: 'Ada', articles: [{ count: 2 }] }, { name: 'Brian', articles: [{ count: 2 }] }, { name: 'Cleo', articles: [{ count: 0 }] }])
})
test('embedded sum, max and an aliased count with a filter on the embed', async () => {
  ok(await db.from('authors').select('name, articles(views.sum(), views.max(), n:id.count())').gt('articles.views', 8).order('id').limit(2),
    [{ name: 'Ada', articles: [{ sum: 35, max: 25, n: 2 }] }, { name: 'Brian', articles: [{ sum: 40, max: 40, n: 1 }] }])
})
test('spread of a to-one relation', async () => {
  ok(await db.from('articles').select('title, ...authors(author:name)').eq('id', 4), [{ title: 'C', author: 'Brian' }])
})
test('single', async () => { ok(await db.from('authors').select('name').eq('id', 1).single(), { name: 'Ada' }, 200) })
test('single on several rows is PGRST116', async () => { fails(await db.from('authors').select('name').single(), 406, 'PGRST116') })
test('maybeSingle with no row is null', async () => { ok(await db.from('authors').select('name').eq('id', 99).maybeSingle(), null) })
test('maybeSingle with one row', async () => { ok(await db.from('authors').select('name').eq('id', 3).maybeSingle(), { name: 'Cleo' }) })

// Writes.
test('insert returns the row', async () => { ok(await db.from('tags').insert({ id: 10, name: 'ten' }).select(), [{ id: 10, name: 'ten' }], 201) })
test('insert without select has no body', async () => { ok(await db.from('tags').insert({ id: 14, name: 'quiet' }), null, 201) })
test('bulk insert', async () => {
  ok(await db.from('tags').insert([{ id: 11, name: 'a' }, { id: 12, name: 'b' }]).select('id'), [{ id: 11 }, { id: 12 }], 201)
})
test('bulk insert with defaultToNull false uses column defaults', async () => {
  ok(await db.from('articles').insert([{ id: 100, author_id: 3, title: 'm1' }, { author_id: 3, title: 'm2', views: 2 }], { defaultToNull: false })
    .select('title, views'), [{ title: 'm1', views: 0 }, { title: 'm2', views: 2 }], 201)
})
test('upsert merges: 200 when it only updates (PostgREST v12)', async () => { ok(await db.from('tags').upsert({ id: 10, name: 'TEN' }).select(), [{ id: 10, name: 'TEN' }], 200) })
test('upsert ignoring duplicates', async () => {
  ok(await db.from('tags').upsert([{ id: 10, name: 'x' }, { id: 13, name: 'm' }], { ignoreDuplicates: true }).select(), [{ id: 13, name: 'm' }], 201)
})
test('update returns rows with an embed', async () => {
  ok(await db.from('articles').update({ views: 11 }).eq('id', 1).select('id, views, authors(name)'),
    [{ id: 1, views: 11, authors: { name: 'Ada' } }], 200)
})
test('update without select is 204', async () => { ok(await db.from('articles').update({ body: 'edited' }).eq('id', 2), null, 204) })
test('delete returns the deleted rows', async () => {
  ok(await db.from('tags').delete().in('id', [11, 12]).select('id').order('id'), [{ id: 11 }, { id: 12 }], 200)
})
test('delete then read shows the rows gone', async () => {
  ok(await db.from('tags').select('id').in('id', [11, 12]), [])
})

// Functions.
test('rpc scalar over POST', async () => { ok(await db.rpc('add', { a: 1, b: 2 }), 3, 200) })
test('rpc scalar over GET', async () => { ok(await db.rpc('add', { a: 2, b: 3 }, { get: true }), 5, 200) })
test('rpc setof with select and order', async () => {
  ok(await db.rpc('articles_by', { author: 2 }).select('title').order('title'), [{ title: 'C' }, { title: 'Unix' }])
})
test('rpc RETURNS TABLE with a filter', async () => { ok(await db.rpc('view_stats').eq('author_id', 2), [{ author_id: 2, total: 47 }]) })
test('rpc void', async () => { ok(await db.rpc('bump', { article: 3 }), null, 204) })

// Errors.
test('unique violation is 409 23505', async () => { fails(await db.from('tags').insert({ id: 1, name: 'dup' }), 409, '23505') })
test('foreign key violation is 409 23503', async () => { fails(await db.from('articles').insert({ author_id: 77, title: 'x' }), 409, '23503') })
test('unknown table is 404 42P01', async () => { fails(await db.from('nope').select(), 404, '42P01') })
test('unknown column is 400 42703', async () => { fails(await db.from('authors').select('nope'), 400, '42703') })
test('no relationship is 400 PGRST200', async () => { fails(await db.from('authors').select('tags(name)'), 400, 'PGRST200') })
test('RAISE is 400 P0001', async () => {
  const res = await db.rpc('fail', { msg: 'boom' })
  fails(res, 400, 'P0001')
  assert.equal(res.error.message, 'boom')
})
test('unknown function is 404 PGRST202', async () => { fails(await db.rpc('nope', {}), 404, 'PGRST202') })
test('invalid input is 400 22P02', async () => { fails(await db.from('authors').select('id').eq('id', 'abc'), 400, '22P02') })

let failed = 0
for (const c of cases) {
  try {
    await c.fn()
    console.log('ok ' + c.name)
  } catch (e) {
    failed++
    console.log('not ok ' + c.name + ': ' + (e && e.message ? e.message.replace(/\n/g, ' ') : e))
  }
}
process.exit(failed ? 1 : 0)

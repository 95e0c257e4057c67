// Type-checked (tsc --strict --noEmit) against database.types.ts, which the test writes
// from the tenant's catalog as `kapok gen types --lang typescript` prints it. Never run.
import { createClient } from '@supabase/supabase-js'
import type { Database, Tables, TablesInsert, TablesUpdate } from './database.types.ts'

const supabase = createClient<Database>('http://127.0.0.1:8080', 'anon-key')

export async function reads(): Promise<number> {
  const { data, error } = await supabase.from('authors').select('id, name, email, articles(title, views)').eq('id', 1)
  if (error || !data) return 0
  const a = data[0]
  const id: number = a.id
  const name: string = a.name
  const email: string | null = a.email
  const titles: string[] = a.articles.map((x) => x.title)
  const views: number = a.articles[0].views
  // @ts-expect-error name is text, never null
  const wrong: number = a.name
  return id + name.length + (email ?? '').length + titles.length + views + wrong
}

export async function writes(): Promise<void> {
  const row: TablesInsert<'tags'> = { id: 1, name: 'x' }
  await supabase.from('tags').insert(row).select()
  // @ts-expect-error name is required on insert
  await supabase.from('tags').insert({ id: 2 })
  // @ts-expect-error id is a number
  await supabase.from('tags').insert({ id: 'three', name: 'y' })
  const patch: TablesUpdate<'articles'> = { views: 3 }
  await supabase.from('articles').update(patch).eq('id', 1).select('id')
  const t: Tables<'tags'> = { id: 1, name: 'x' }
  await supabase.from('tags').upsert(t)
  await supabase.from('tags').delete().eq('id', t.id)
}

export async function rpc(): Promise<number> {
  const { data } = await supabase.rpc('add', { a: 1, b: 2 })
  // @ts-expect-error add takes numbers
  await supabase.rpc('add', { a: 'x', b: 2 })
  return data ?? 0
}

// Reads the todos twice: over REST with supabase-js, over GraphQL with Apollo Client.
// Run `kapok dev` in the project folder first, then `npm install && npm start` here.
import { createClient } from '@supabase/supabase-js'
import { ApolloClient, InMemoryCache, HttpLink, gql } from '@apollo/client/core/index.js'

const url = process.env.KAPOK_URL ?? 'http://127.0.0.1:8080'
// The dev instance is open: any key is accepted as the anon key. With keys configured,
// use the tenant's anon key (`kapok tenant keys app`).
const key = process.env.KAPOK_ANON_KEY ?? 'anon'

// Kapok serves no Realtime: a transport that says so keeps supabase-js from looking for
// a WebSocket (Node.js 20 has none built in).
class NoRealtime {
  constructor() {
    throw new Error('Kapok does not serve Realtime')
  }
}
const supabase = createClient(url, key, { realtime: { transport: NoRealtime } })
const { data: rows, error } = await supabase.from('todos').select('id, title, done').order('id')
if (error) {
  console.error('supabase-js:', error)
  process.exit(1)
}
console.log('supabase-js (REST):')
for (const r of rows) console.log(`  ${r.id}  ${r.done ? '[x]' : '[ ]'} ${r.title}`)

const headers = process.env.KAPOK_ANON_KEY ? { apikey: key } : {}
const apollo = new ApolloClient({ link: new HttpLink({ uri: `${url}/v1/graphql`, headers }), cache: new InMemoryCache() })
const { data } = await apollo.query({ query: gql`query Todos { todos(order_by: { id: asc }) { id title done } }` })
console.log('Apollo Client (GraphQL):')
for (const r of data.todos) console.log(`  ${r.id}  ${r.done ? '[x]' : '[ ]'} ${r.title}`)

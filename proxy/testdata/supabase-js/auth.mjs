// Drives supabase-js's auth client, as its documentation shows, against Kapok Auth
// (KAPOK_URL, a tenant under /t/{tenant}) whose schema KAPOK_SCHEMA holds notes, kept to
// their owner by row-level security on auth.uid(); proxy/authjs_test.go sets it up. Mails
// go to a mail sink whose HTTP API is KAPOK_MAIL_API (GET /api/messages, newest first);
// KAPOK_PROVIDER is an OpenID Connect provider that signs anyone in as KAPOK_OIDC_EMAIL.
// Prints one line per case: "ok <name>" or "not ok <name>: <reason>"; exits 1 on failure.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { createClient } from '@supabase/supabase-js'

const env = process.env
const URL_ = env.KAPOK_URL
const APP = env.KAPOK_APP
const REDIRECT = APP + '/callback'
const PROVIDER = env.KAPOK_PROVIDER
const alice = { email: env.KAPOK_ALICE_EMAIL, password: env.KAPOK_ALICE_PASSWORD }
const bob = { email: env.KAPOK_BOB_EMAIL, password: env.KAPOK_BOB_PASSWORD }

// A client per user, as in a server-side script: no storage between runs, no timers.
const options = (auth = {}) => ({
  auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false, ...auth },
  db: { schema: env.KAPOK_SCHEMA },
})
const client = (auth) => createClient(URL_, env.KAPOK_ANON_KEY, options(auth))
const admin = createClient(URL_, env.KAPOK_SERVICE_KEY, options())

const cases = []
const test = (name, fn) => cases.push({ name, fn })
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// ok unwraps a supabase-js result, failing on its error.
function ok({ data, error }) {
  assert.equal(error, null, error && `${error.name} ${error.status} ${error.code}: ${error.message}`)
  return data
}

// claims decodes a JWT's payload (the signature is the server's business).
const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())

// ---- the mail sink ----

const seenMail = new Set()

// mailTo waits for a mail to address that no earlier call returned.
async function mailTo(address, ms = 5000) {
  const deadline = Date.now() + ms
  for (;;) {
    const res = await fetch(`${env.KAPOK_MAIL_API}/api/messages`)
    assert.equal(res.status, 200, `mail sink: HTTP ${res.status}`)
    const body = await res.json()
    const list = Array.isArray(body) ? body : (body.messages ?? [])
    const m = list.find((m) => !seenMail.has(String(m.id)) && JSON.stringify(m.to ?? '').toLowerCase().includes(address.toLowerCase()))
    if (m) {
      seenMail.add(String(m.id))
      return m
    }
    if (Date.now() > deadline) throw new Error(`no new mail to ${address} within ${ms} ms (${list.length} in the sink)`)
    await sleep(100)
  }
}

// links are the URLs of a mail, its text's and its HTML's.
function links(m) {
  const all = `${m.text ?? ''}\n${m.html ?? ''}`.replaceAll('&amp;', '&')
  return [...new Set(all.match(/https?:\/\/[^\s"'<>)]+/g) ?? [])]
}

// code is the mail's one-time code: six digits standing alone, outside any link.
function code(m) {
  const text = `${m.text ?? ''}\n${(m.html ?? '').replace(/<[^>]*>/g, ' ')}`.replace(/https?:\/\/[^\s"'<>)]+/g, ' ')
  const found = text.match(/(?<![\w-])\d{6}(?![\w-])/)
  assert.ok(found, `no code in the mail: ${m.text}`)
  return found[0]
}

// ---- redirects, as a browser would follow them ----

// follow goes from url through the redirects (or skip_http_redirect's {url}) until one
// leads to the app, and returns that URL.
async function follow(url) {
  for (let hop = 0; hop < 10; hop++) {
    const res = await fetch(url, { redirect: 'manual' })
    let next
    if (res.status >= 300 && res.status < 400) {
      next = res.headers.get('location')
    } else if (res.status === 200 && (res.headers.get('content-type') ?? '').includes('json')) {
      next = (await res.json()).url
    } else {
      throw new Error(`${url}: HTTP ${res.status} ${await res.text()}`)
    }
    assert.ok(next, `${url}: HTTP ${res.status} without a Location`)
    next = new URL(next, url)
    if (next.href.startsWith(APP)) return next
    url = next.href
  }
  throw new Error('more than 10 redirects')
}

const fragment = (u) => Object.fromEntries(new URLSearchParams(u.hash.slice(1)))

// ---- TOTP (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits) ----

function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = 0
  let v = 0
  const out = []
  for (const c of s.replace(/=+$/, '').toUpperCase()) {
    const i = alphabet.indexOf(c)
    if (i < 0) throw new Error(`not base32: ${s}`)
    v = ((v << 5) | i) & 0xffff
    bits += 5
    if (bits >= 8) {
      out.push((v >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  return Buffer.from(out)
}

function totp(key, at = Date.now(), digits = 6) {
  const msg = Buffer.alloc(8)
  msg.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)))
  const h = createHmac('sha1', key).update(msg).digest()
  const o = h[h.length - 1] & 0xf
  return String((h.readUInt32BE(o) & 0x7fffffff) % 10 ** digits).padStart(digits, '0')
}

test('the TOTP helper gives RFC 6238\'s SHA-1 test values', () => {
  const key = Buffer.from('12345678901234567890')
  assert.equal(totp(key, 59e3, 8), '94287082')
  assert.equal(totp(key, 1111111109e3, 8), '07081804')
  assert.equal(totp(base32('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'), 2000000000e3, 8), '69279037')
})

// ---- sign-up, confirmation, password sign-in, refresh, sign-out ----

const a = client()
let aliceID

test('sign-up without autoconfirm returns the user and no session', async () => {
  const { user, session } = ok(await a.auth.signUp({ ...alice, options: { emailRedirectTo: REDIRECT, data: { name: 'Alice' } } }))
  assert.equal(session, null)
  assert.equal(user.email, alice.email)
  assert.equal(user.email_confirmed_at ?? null, null)
  assert.equal(user.user_metadata.name, 'Alice')
  aliceID = user.id
})

test('an unconfirmed user cannot sign in with a password', async () => {
  const { error } = await client().auth.signInWithPassword(alice)
  assert.equal(error?.code, 'email_not_confirmed', error?.message)
})

test('the confirmation mail\'s link confirms and signs in, through the tenant prefix', async () => {
  const m = await mailTo(alice.email)
  const link = links(m).find((l) => l.includes('/auth/v1/verify'))
  assert.ok(link, `no verify link in: ${links(m).join(' ')}`)
  assert.ok(link.startsWith(URL_ + '/auth/v1/verify'), link)
  const back = await follow(link)
  assert.equal(back.origin + back.pathname, REDIRECT)
  const f = fragment(back)
  assert.ok(f.access_token && f.refresh_token, `fragment ${back.hash}`)
  assert.equal(claims(f.access_token).sub, aliceID)
  assert.equal(f.token_type, 'bearer')
})

let aliceSession

test('signInWithPassword, then getUser', async () => {
  const { session, user } = ok(await a.auth.signInWithPassword(alice))
  assert.equal(user.id, aliceID)
  const c = claims(session.access_token)
  assert.equal(c.sub, aliceID)
  assert.equal(c.role, 'authenticated')
  assert.equal(c.aal, 'aal1')
  assert.ok(c.session_id)
  const got = ok(await a.auth.getUser()).user
  assert.equal(got.email, alice.email)
  assert.ok(got.email_confirmed_at, 'email_confirmed_at is not set')
  aliceSession = session
})

test('a wrong password is invalid_credentials', async () => {
  const { error } = await client().auth.signInWithPassword({ email: alice.email, password: 'not-the-password' })
  assert.equal(error?.code, 'invalid_credentials')
  assert.equal(error.status, 400)
})

test('refreshSession rotates the tokens of the same session', async () => {
  const { session } = ok(await a.auth.refreshSession())
  assert.notEqual(session.refresh_token, aliceSession.refresh_token)
  assert.equal(claims(session.access_token).session_id, claims(aliceSession.access_token).session_id)
  aliceSession = session
})

test('signOut ends the session: its refresh token is refused', async () => {
  ok(await a.auth.signOut())
  const { error } = await client().auth.refreshSession({ refresh_token: aliceSession.refresh_token })
  assert.ok(error, 'the refresh token of a signed-out session was accepted')
  assert.equal(error.status, 400, `${error.code} ${error.message}`)
})

// ---- magic link (email OTP) ----

test('signInWithOtp mails a code that verifyOtp signs in with', async () => {
  ok(await a.auth.signInWithOtp({ email: alice.email, options: { shouldCreateUser: false, emailRedirectTo: REDIRECT } }))
  const m = await mailTo(alice.email)
  const { session, user } = ok(await a.auth.verifyOtp({ email: alice.email, token: code(m), type: 'email' }))
  assert.equal(user.id, aliceID)
  assert.equal(claims(session.access_token).sub, aliceID)
  const amr = claims(session.access_token).amr ?? []
  assert.ok(amr.some((e) => e.method === 'otp' || e.method === 'magiclink'), JSON.stringify(amr))
  const { error } = await client().auth.verifyOtp({ email: alice.email, token: code(m), type: 'email' })
  assert.ok(error, 'a used code was accepted again')
})

// ---- MFA: TOTP up to aal2 ----

let factor // { id, key }

test('enroll a TOTP factor, challenge and verify it: the session reaches aal2', async () => {
  const enrolled = ok(await a.auth.mfa.enroll({ factorType: 'totp', friendlyName: 'phone' }))
  assert.equal(enrolled.type, 'totp')
  assert.ok(enrolled.totp.secret, 'no secret')
  assert.ok(enrolled.totp.uri.startsWith('otpauth://totp/'), enrolled.totp.uri)
  const before = ok(await a.auth.mfa.getAuthenticatorAssuranceLevel())
  assert.equal(before.currentLevel, 'aal1')
  factor = { id: enrolled.id, key: base32(enrolled.totp.secret) }
  const challenge = ok(await a.auth.mfa.challenge({ factorId: factor.id }))
  const verified = ok(await a.auth.mfa.verify({ factorId: factor.id, challengeId: challenge.id, code: totp(factor.key) }))
  assert.equal(claims(verified.access_token).aal, 'aal2')
  const after = ok(await a.auth.mfa.getAuthenticatorAssuranceLevel())
  assert.equal(after.currentLevel, 'aal2')
  assert.equal(after.nextLevel, 'aal2')
  assert.ok(after.currentAuthenticationMethods.some((m) => m.method === 'totp'), JSON.stringify(after.currentAuthenticationMethods))
  const factors = ok(await a.auth.mfa.listFactors())
  assert.deepEqual(factors.totp.map((f) => f.id), [enrolled.id])
})

test('a wrong TOTP code is refused', async () => {
  const now = Date.now()
  const valid = new Set([-30e3, 0, 30e3].map((d) => totp(factor.key, now + d)))
  let wrong = 0
  while (valid.has(String(wrong).padStart(6, '0'))) wrong++
  const challenge = ok(await a.auth.mfa.challenge({ factorId: factor.id }))
  const { error } = await a.auth.mfa.verify({ factorId: factor.id, challengeId: challenge.id, code: String(wrong).padStart(6, '0') })
  assert.equal(error?.code, 'mfa_verification_failed', error?.message)
})

// ---- the tokens with REST and GraphQL, under row-level security on auth.uid() ----

const b = client()
let bobID

test('the admin API creates a confirmed user, who signs in', async () => {
  const { user } = ok(await admin.auth.admin.createUser({ ...bob, email_confirm: true, user_metadata: { name: 'Bob' } }))
  assert.equal(user.email, bob.email)
  assert.ok(user.email_confirmed_at)
  bobID = user.id
  const { session } = ok(await b.auth.signInWithPassword(bob))
  assert.equal(claims(session.access_token).sub, bobID)
})

test('each user inserts notes that auth.uid() marks as theirs', async () => {
  const mine = ok(await a.from('notes').insert([{ body: 'alice 1' }, { body: 'alice 2' }]).select('body, user_id'))
  assert.deepEqual(mine, [{ body: 'alice 1', user_id: aliceID }, { body: 'alice 2', user_id: aliceID }])
  const his = ok(await b.from('notes').insert({ body: 'bob 1' }).select('body, user_id'))
  assert.deepEqual(his, [{ body: 'bob 1', user_id: bobID }])
})

test('each user reads only their notes over REST', async () => {
  assert.deepEqual(ok(await a.from('notes').select('body').order('id')), [{ body: 'alice 1' }, { body: 'alice 2' }])
  assert.deepEqual(ok(await b.from('notes').select('body').order('id')), [{ body: 'bob 1' }])
})

test('a note for another user is refused by the policy\'s check', async () => {
  const { error } = await a.from('notes').insert({ body: 'forged', user_id: bobID })
  assert.equal(error?.code, '42501', JSON.stringify(error))
})

test('anonymous requests see no notes', async () => {
  const { data, error } = await client().from('notes').select('body')
  assert.ok(error || data.length === 0, JSON.stringify(data))
})

test('the same access tokens read only their owner\'s notes over GraphQL', async () => {
  for (const [c, want] of [[a, ['alice 1', 'alice 2']], [b, ['bob 1']]]) {
    const { session } = ok(await c.auth.getSession())
    const res = await fetch(`${URL_}/v1/graphql`, {
      method: 'POST',
      headers: { apikey: env.KAPOK_ANON_KEY, Authorization: `Bearer ${session.access_token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ query: '{ notes(order_by: {id: asc}) { body } }' }),
    })
    const body = await res.json()
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.deepEqual(body.data?.notes?.map((n) => n.body), want, JSON.stringify(body))
  }
})

// ---- OAuth through the local OpenID Connect provider ----

let oauthID

test('signInWithOAuth (implicit): the provider signs in, tokens come in the fragment, setSession takes them', async () => {
  const c = client()
  const { url } = ok(await c.auth.signInWithOAuth({ provider: PROVIDER, options: { redirectTo: REDIRECT, skipBrowserRedirect: true } }))
  assert.ok(url.startsWith(URL_ + '/auth/v1/authorize?'), url)
  const back = await follow(url)
  assert.equal(back.origin + back.pathname, REDIRECT)
  const f = fragment(back)
  assert.ok(f.access_token && f.refresh_token, `fragment ${back.hash} query ${back.search}`)
  const { user } = ok(await c.auth.setSession({ access_token: f.access_token, refresh_token: f.refresh_token }))
  assert.equal(user.email, env.KAPOK_OIDC_EMAIL)
  assert.ok(user.identities?.some((i) => i.provider === PROVIDER), JSON.stringify(user.identities))
  oauthID = user.id
})

test('signInWithOAuth with PKCE: the code comes back in the query and exchangeCodeForSession signs in', async () => {
  const items = new Map()
  const storage = {
    getItem: (k) => items.get(k) ?? null,
    setItem: (k, v) => void items.set(k, v),
    removeItem: (k) => void items.delete(k),
  }
  const c = client({ flowType: 'pkce', storage, persistSession: true })
  const { url } = ok(await c.auth.signInWithOAuth({ provider: PROVIDER, options: { redirectTo: REDIRECT, skipBrowserRedirect: true } }))
  assert.match(url, /code_challenge=/)
  const back = await follow(url)
  const authCode = back.searchParams.get('code')
  assert.ok(authCode, `no code in ${back.href}`)
  assert.equal(back.hash, '', 'tokens in the fragment of a PKCE flow')
  // The verifier leaves the storage with the exchange: a copy lets a second client try
  // the same code with the right verifier, which the server must refuse.
  const copy = new Map(items)
  const { session, user } = ok(await c.auth.exchangeCodeForSession(authCode))
  assert.equal(user.id, oauthID, 'the same identity is the same user')
  assert.equal(claims(session.access_token).sub, oauthID)
  const again = client({ flowType: 'pkce', persistSession: true, storage: { ...storage, getItem: (k) => copy.get(k) ?? null } })
  const { error } = await again.auth.exchangeCodeForSession(authCode)
  assert.ok(error, 'a code was exchanged twice')
  assert.ok(error.status >= 400 && error.status < 500, `${error.name} ${error.status}: ${error.message}`)
})

test('an unknown provider is refused', async () => {
  const c = client()
  const { url } = ok(await c.auth.signInWithOAuth({ provider: 'no-such-provider', options: { redirectTo: REDIRECT, skipBrowserRedirect: true } }))
  const res = await fetch(url, { redirect: 'manual' })
  assert.ok(res.status >= 400 && res.status < 500, `HTTP ${res.status}`)
})

// ---- the admin API ----

test('listUsers lists every user', async () => {
  const { users } = ok(await admin.auth.admin.listUsers({ page: 1, perPage: 50 }))
  const emails = users.map((u) => u.email).sort()
  assert.deepEqual(emails, [alice.email, bob.email, env.KAPOK_OIDC_EMAIL].sort())
})

test('a user\'s token is not the service role: the admin API refuses it', async () => {
  const { session } = ok(await a.auth.getSession())
  const res = await fetch(`${URL_}/auth/v1/admin/users`, { headers: { apikey: env.KAPOK_ANON_KEY, Authorization: `Bearer ${session.access_token}` } })
  assert.equal(res.status, 403)
})

test('deleteUser removes a user, whose session then fails', async () => {
  const { user } = ok(await admin.auth.admin.deleteUser(bobID))
  assert.equal(user.id, bobID)
  const { users } = ok(await admin.auth.admin.listUsers())
  assert.ok(!users.some((u) => u.id === bobID), 'still listed')
  const { error } = await b.auth.getUser()
  assert.ok(error, 'a deleted user\'s token still gets the user')
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
process.exit(failed ? 1 : 0)

/**
 * Row-level security from the token, proven on PostgreSQL through the API's own role and the Neon driver: inside
 * `runAsUser` (the user scope) an unfiltered statement sees the caller's rows alone, another user's row can be neither
 * changed nor written; outside it the API's role is refused the table; a unit of work without claims sees nothing; two
 * users interleaved on one pooled connection never see each other's settings, which die with each transaction. Then
 * the preferences routes through their handlers, and the schema rule every user-owned table must keep.
 */
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createDatabase } from '#db/client'
import { sqlState } from '#db/errors'
import { createUserScope, sqlLiteral, USER_ROLE } from '#db/user-scope'
import { handler as deleteAccount } from '#functions/delete-account'
import { handler as getPreferences } from '#functions/get-preferences'
import { handler as putPreferences } from '#functions/put-preferences'
import type { TokenPrincipal } from '#shared/domain/principal'
import { testDatabase } from '#test/helpers/database'
import { apiEvent, bearerEvent, invoke } from '#test/helpers/events'
import { loggedIn, registeredUser, type TestUser } from '#test/helpers/users'

const owner = testDatabase()
/** The API's own login role, on ONE pooled connection: every unit of work below shares it. */
const api = createDatabase({
  url: inject('databaseUrl'),
  wsProxy: inject('wsProxy'),
  connectTimeoutMs: 3000,
  poolMax: 1,
})
const scope = createUserScope(api)

const as = (user: TestUser): TokenPrincipal => ({ userId: user.id, sessionId: null, claims: {} })
let alice: TestUser
let bob: TestUser

beforeAll(async () => {
  alice = await registeredUser()
  bob = await registeredUser()
  for (const [user, board] of [
    [alice, 'WAEC'],
    [bob, 'NECO'],
  ] as const)
    await scope.run(
      as(user),
      sql`insert into user_preferences (user_id, exam_board, subjects) values (papa_auth.uid(), ${board}, '["Physics"]')
        on conflict (user_id) do update set exam_board = excluded.exam_board`,
    )
})

afterAll(async () => {
  await api.close()
  await owner.close()
})

const boardsSeenBy = async (user: TestUser) =>
  (await scope.run<{ user_id: number; exam_board: string }>(as(user), sql`select * from user_preferences`))
    .rows

const failureOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'succeeded',
    (error: unknown) => sqlState(error) ?? String(error),
  )

describe('inside the user scope', () => {
  it('an unfiltered select returns the caller’s row alone', async () => {
    expect(await boardsSeenBy(alice)).toEqual([
      expect.objectContaining({ user_id: alice.id, exam_board: 'WAEC' }),
    ])
    expect(await boardsSeenBy(bob)).toEqual([
      expect.objectContaining({ user_id: bob.id, exam_board: 'NECO' }),
    ])
    // The table holds both: the owner sees them.
    const all = await owner.db.execute(
      sql`select user_id from user_preferences where user_id in (${alice.id}, ${bob.id}) order by user_id`,
    )
    expect(all.rows).toHaveLength(2)
  })

  it('an update or a delete of another user’s row changes nothing', async () => {
    const updated = await scope.run(
      as(alice),
      sql`update user_preferences set exam_board = 'hijacked' where user_id = ${bob.id}`,
    )
    const deleted = await scope.run(as(alice), sql`delete from user_preferences where user_id = ${bob.id}`)
    expect([updated.rowCount, deleted.rowCount]).toEqual([0, 0])
    expect(await boardsSeenBy(bob)).toEqual([expect.objectContaining({ exam_board: 'NECO' })])
  })

  it('an insert with another user’s id, or moving one’s row to another id, is refused', async () => {
    const stranger = await registeredUser()
    expect(
      await failureOf(
        scope.run(
          as(alice),
          sql`insert into user_preferences (user_id, exam_board) values (${stranger.id}, 'x')`,
        ),
      ),
    ).toBe('42501')
    expect(
      await failureOf(scope.run(as(alice), sql`update user_preferences set user_id = ${stranger.id}`)),
    ).toBe('42501')
    const rows = await owner.db.execute(sql`select 1 from user_preferences where user_id = ${stranger.id}`)
    expect(rows.rows).toEqual([])
  })

  it('a unit of work without claims sees nothing and writes nothing', async () => {
    const results = (await api.pool.query(
      `set local role ${USER_ROLE}; select count(*)::int as n from user_preferences; select papa_auth.uid() as uid`,
    )) as unknown as { rows: { n?: number; uid?: number | null }[] }[]
    expect(results[1]?.rows).toEqual([{ n: 0 }])
    expect(results[2]?.rows).toEqual([{ uid: null }])
    expect(
      await failureOf(
        api.pool.query(
          `set local role ${USER_ROLE}; insert into user_preferences (user_id) values (${alice.id})`,
        ),
      ),
    ).toBe('42501')
  })
})

describe('outside the user scope', () => {
  it('the API’s role is refused the table (42501), not shown an empty one', async () => {
    for (const statement of [
      sql`select * from user_preferences`,
      sql`update user_preferences set exam_board = 'x'`,
      sql`insert into user_preferences (user_id) values (${alice.id})`,
      sql`delete from user_preferences`,
    ])
      expect(await failureOf(api.db.execute(statement))).toBe('42501')
  })
})

describe('on one pooled connection', () => {
  it('two users interleaved never see each other’s claims or rows, and nothing outlives a transaction', async () => {
    const who = sql`select current_user as role, papa_auth.uid() as uid, (select array_agg(user_id) from user_preferences) as seen`
    const runs = Array.from({ length: 40 }, (_, index) => (index % 2 === 0 ? alice : bob)).map(
      async (user) => {
        const { rows } = await scope.run<{ role: string; uid: number; seen: number[] }>(as(user), who)
        return { user: user.id, ...rows[0] }
      },
    )
    // Between them, plain statements of the API on the same connection.
    const plain = Array.from({ length: 10 }, () =>
      api.db.execute<{ role: string; claims: string | null }>(
        sql`select current_user as role, nullif(current_setting('request.jwt.claims', true), '') as claims`,
      ),
    )
    const [scoped, unscoped] = await Promise.all([Promise.all(runs), Promise.all(plain)])
    for (const run of scoped)
      expect(run).toEqual({ user: run.user, role: USER_ROLE, uid: run.user, seen: [run.user] })
    for (const result of unscoped)
      expect(result.rows).toEqual([{ role: expect.not.stringMatching(USER_ROLE), claims: null }])
    // One connection served all of them.
    expect(api.pool.totalCount).toBe(1)
  })

  it('a failed unit of work leaves the connection as it found it', async () => {
    expect(await failureOf(scope.run(as(alice), sql`select 1/0`))).toBe('22012')
    const after = await api.db.execute<{ role: string; claims: string | null }>(
      sql`select current_user as role, nullif(current_setting('request.jwt.claims', true), '') as claims`,
    )
    expect(after.rows[0]?.claims).toBeNull()
    expect(after.rows[0]?.role).not.toBe(USER_ROLE)
  })

  it('writes every parameter as a literal the server reads back exactly', async () => {
    const tricky = [`it's`, 'back\\slash', `'); drop table users; --`, 'ünïcødé', '$1 $2']
    for (const text of tricky) {
      const { rows } = await scope.run<{ echoed: string }>(as(alice), sql`select ${text}::text as echoed`)
      expect(rows[0]?.echoed).toBe(text)
    }
    expect(sqlLiteral(null)).toBe('NULL')
    expect(() => sqlLiteral('nul\u0000')).toThrow()
  })
})

describe('GET and PUT /users/me/preferences', () => {
  const put = (token: string, body: unknown) =>
    invoke(
      putPreferences,
      apiEvent('PUT', '/api/v1/users/me/preferences', JSON.stringify(body), {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      }),
    )
  const get = (token: string) => invoke(getPreferences, bearerEvent('/api/v1/users/me/preferences', token))

  it('each user reads and writes only their own; defaults before the first save', async () => {
    const [carol, dan] = [await registeredUser(), await registeredUser()]
    const [carolToken, danToken] = [(await loggedIn(carol)).access_token, (await loggedIn(dan)).access_token]
    expect(await get(carolToken)).toMatchObject({
      status: 200,
      body: { exam_board: null, subjects: [], updated_at: null },
    })
    const saved = await put(carolToken, { exam_board: 'WAEC', subjects: ['Physics', 'Chemistry'] })
    expect(saved).toMatchObject({
      status: 200,
      body: { exam_board: 'WAEC', subjects: ['Physics', 'Chemistry'] },
    })
    expect((saved.body as { updated_at: string }).updated_at).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect((await put(danToken, { exam_board: 'NECO', subjects: [] })).status).toBe(200)
    expect((await get(carolToken)).body).toMatchObject({
      exam_board: 'WAEC',
      subjects: ['Physics', 'Chemistry'],
    })
    expect((await get(danToken)).body).toMatchObject({ exam_board: 'NECO', subjects: [] })
    // A user id in the body is no way in: it is not a field, and the row is the caller's.
    expect((await put(danToken, { exam_board: 'X', subjects: [], user_id: carol.id })).status).toBe(200)
    expect((await get(carolToken)).body).toMatchObject({ exam_board: 'WAEC' })
  })

  it('answers 422 on bad input and 401 without a session, changing nothing', async () => {
    const erin = await registeredUser()
    const token = (await loggedIn(erin)).access_token
    for (const body of [
      {},
      { exam_board: 'WAEC' },
      { exam_board: '', subjects: [] },
      { exam_board: 'x'.repeat(41), subjects: [] },
      { exam_board: null, subjects: ['Maths', 'maths'] },
      { exam_board: null, subjects: Array.from({ length: 31 }, (_, i) => `S${i}`) },
      { exam_board: null, subjects: ['bad\u0007bell'] },
      { exam_board: null, subjects: 'Physics' },
    ])
      expect((await put(token, body)).status, JSON.stringify(body)).toBe(422)
    expect((await invoke(getPreferences, apiEvent('GET', '/api/v1/users/me/preferences'))).status).toBe(401)
    expect((await get(token)).body).toMatchObject({ updated_at: null })
  })

  it('a deleted account’s preferences go with it', async () => {
    const frank = await registeredUser()
    const token = (await loggedIn(frank)).access_token
    expect((await put(token, { exam_board: 'WAEC', subjects: ['Biology'] })).status).toBe(200)
    const deleted = await invoke(
      deleteAccount,
      apiEvent('DELETE', '/api/v1/users/me', JSON.stringify({ current_password: frank.password }), {
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      }),
    )
    expect(deleted.status).toBe(204)
    const left = await owner.db.execute(sql`select 1 from user_preferences where user_id = ${frank.id}`)
    expect(left.rows).toEqual([])
    expect((await get(token)).status).toBe(401)
  })
})

/**
 * The service's tables that carry a user id but are no user's to read: the user-scoped role has no privilege on them
 * at all, and only the API's own statements (which name the user themselves) reach them. A new table with a
 * `user_id` column is either added here, with the reason, or gets row-level security and policies.
 */
const SERVICE_TABLES: Record<string, string> = {
  sessions: 'sessions and their tokens: the auth service’s own bookkeeping',
  password_reset_tokens: 'hashes of mailed links, used up by the service',
  account_deletion_tokens: 'hashes of mailed links, used up by the service',
  email_codes: 'hashes of mailed codes, checked by the service',
  mail_outbox: 'mail jobs the mail sender runs',
  security_events: 'the audit trail, written and exported by the service',
}

describe('the schema rule for user-owned tables', () => {
  it('every table with a user_id has RLS enabled and forced and a policy, or is a service table the user role cannot touch', async () => {
    const tables = await owner.db.execute<{
      table_name: string
      rls: boolean
      forced: boolean
      policies: number
      user_role_privileges: boolean
    }>(sql`
      select c.relname as table_name, c.relrowsecurity as rls, c.relforcerowsecurity as forced,
        (select count(*)::int from pg_policies p where p.schemaname = 'public' and p.tablename = c.relname) as policies,
        (has_table_privilege(${USER_ROLE}, c.oid, 'SELECT') or has_table_privilege(${USER_ROLE}, c.oid, 'INSERT')
          or has_table_privilege(${USER_ROLE}, c.oid, 'UPDATE') or has_table_privilege(${USER_ROLE}, c.oid, 'DELETE'))
          as user_role_privileges
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p')
        and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'user_id' and not a.attisdropped)
      order by c.relname`)
    expect(tables.rows.length).toBeGreaterThan(0)
    for (const table of tables.rows) {
      if (table.table_name in SERVICE_TABLES) {
        expect(
          table.user_role_privileges,
          `${table.table_name}: a service table the user role must not reach`,
        ).toBe(false)
        continue
      }
      expect(table, `${table.table_name}: a user-owned table`).toMatchObject({ rls: true, forced: true })
      expect(table.policies, `${table.table_name}: its policies`).toBeGreaterThan(0)
    }
    expect(tables.rows.map((table) => table.table_name)).toContain('user_preferences')
  })

  it('the user role is no superuser, bypasses no RLS, owns nothing, and reaches no table without RLS', async () => {
    const role = await owner.db.execute<{
      rolsuper: boolean
      rolbypassrls: boolean
      rolcanlogin: boolean
      owned: number
    }>(sql`
      select rolsuper, rolbypassrls, rolcanlogin,
        (select count(*)::int from pg_class where relowner = r.oid) as owned
      from pg_roles r where rolname = ${USER_ROLE}`)
    expect(role.rows).toEqual([{ rolsuper: false, rolbypassrls: false, rolcanlogin: false, owned: 0 }])
    const reachable = await owner.db.execute<{ relname: string }>(sql`
      select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relforcerowsecurity
        and (has_table_privilege(${USER_ROLE}, c.oid, 'SELECT') or has_table_privilege(${USER_ROLE}, c.oid, 'INSERT')
          or has_table_privilege(${USER_ROLE}, c.oid, 'UPDATE') or has_table_privilege(${USER_ROLE}, c.oid, 'DELETE'))`)
    expect(reachable.rows).toEqual([])
  })
})

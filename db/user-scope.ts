import type { SQLWrapper } from 'drizzle-orm'
import type { SessionPrincipal, TokenPrincipal } from '#shared/domain/principal'
import {
  type DatabaseHandle,
  escapeLiteral,
  type QueryResult,
  type QueryResultRow,
  RESULT_TYPES,
  toStatement,
} from './client.ts'
import { rethrowUnavailable } from './errors.ts'

/** The role user-scoped work runs as (migration 0023): no BYPASSRLS, only row privileges on user-owned tables. */
export const USER_ROLE = 'papa_auth_user'

/** Who a unit of work runs as: the principal the HTTP layer handed the handler, never an id from a request body. */
export type ScopedPrincipal = SessionPrincipal | TokenPrincipal

/** The claims a unit of work sees (`papa_auth.uid()` reads `sub`), from the principal alone. */
export function claimsOf(principal: ScopedPrincipal): {
  sub: string
  sid: string | null
  role: 'authenticated'
} {
  const userId = 'user' in principal ? principal.user.id : principal.userId
  if (!Number.isSafeInteger(userId) || userId <= 0)
    throw new Error('a scoped principal has a positive user id')
  return { sub: String(userId), sid: principal.sessionId, role: 'authenticated' }
}

/** A value as an SQL literal (strings quoted by the driver's `escapeLiteral`): a parameter of a one-query script. */
export function sqlLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'NULL'
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE'
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('a number parameter must be finite')
    return String(value)
  }
  if (typeof value === 'bigint') return String(value)
  if (value instanceof Date) return sqlLiteral(value.toISOString())
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  if (text.includes('\u0000')) throw new Error('a text parameter cannot hold NUL')
  return escapeLiteral(text)
}

/** A drizzle statement with its parameters written in as literals (its own text holds no `$n` but its parameters). */
export function inlined(work: SQLWrapper): string {
  const { text, values } = toStatement(work)
  return text.replace(/\$(\d+)\b/g, (_, index: string) => {
    const position = Number(index) - 1
    if (position < 0 || position >= values.length) throw new Error(`no parameter $${index}`)
    return sqlLiteral(values[position])
  })
}

export interface UserScope {
  /**
   * Runs `work` as the principal's user: one transaction on a pooled connection in which the claims are set with
   * `set_config('request.jwt.claims', …, true)` and the role with `SET LOCAL ROLE papa_auth_user`, then the work,
   * then the commit. Sent as one simple query (one round trip: the three statements form one implicit transaction,
   * committed at its end, rolled back whole on an error), so the settings die with the transaction: behind a
   * transaction-mode pooler (Neon's) the next client of that server connection never sees them.
   */
  run<T extends QueryResultRow = QueryResultRow>(
    principal: ScopedPrincipal,
    work: SQLWrapper,
  ): Promise<QueryResult<T>>
}

export function createUserScope(handle: Pick<DatabaseHandle, 'pool'>): UserScope {
  return {
    async run<T extends QueryResultRow>(principal: ScopedPrincipal, work: SQLWrapper) {
      const script = [
        `select set_config('request.jwt.claims', ${sqlLiteral(JSON.stringify(claimsOf(principal)))}, true)`,
        `set local role ${USER_ROLE}`,
        inlined(work),
      ].join(';\n')
      // No parameters: node-postgres sends it as one simple query and answers each statement's result.
      const results = (await handle.pool
        .query({ text: script, types: RESULT_TYPES })
        .catch(rethrowUnavailable)) as unknown as QueryResult<T>[]
      const result = results[2]
      if (!result) throw new Error('a scoped unit of work answered no result')
      return result
    },
  }
}

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the edits are source text, placeholders and all.
/**
 * The promises `npm run test:mutations` breaks, each in the smallest plausible way, beside the tests that claim it.
 * A curated list, not a generated one: it covers what is written here, and says nothing of the rest. Each edit is a
 * text found exactly once in its file, replaced; a mutation whose text has gone stale fails the run. Add one with
 * every promise a change makes: the edit that would break it, and the tests that must notice.
 */
export interface Mutation {
  /** Short and stable: `--only` takes it. */
  id: string
  /** What a user or an operator would lose. */
  promise: string
  /** The edit, in a few words, for the table. */
  edit: string
  file: string
  from: string
  to: string
  /** The test files that claim the promise: only these run. */
  tests: readonly string[]
}

export const MUTATIONS: readonly Mutation[] = [
  // ── Passwords and logins ─────────────────────────────────────────────────────────────────────────────────────────
  {
    id: 'login-start-unchecked',
    promise:
      'A login whose password was changed or reset while it was checked starts no session and signs no token.',
    edit: 'the check that the session started is deleted',
    file: 'shared/domain/auth-service.ts',
    from: '    if (!started) throw new InvalidCredentialsError()\n',
    to: '',
    tests: ['test/unit/auth-service.test.ts', 'test/integration/login-race.test.ts'],
  },
  {
    id: 'dummy-hash-cut',
    promise: 'An unknown email costs the same bcrypt work as an account at the production cost (12).',
    edit: 'one character cut from the cost-12 dummy hash',
    file: 'shared/domain/passwords.ts',
    from: "12: '$2b$12$5yQ1SRW7ot5gFtL3Ql1TIO6gXnXrEi66s/ecNLukylGZCP4yUaTIm',",
    to: "12: '$2b$12$5yQ1SRW7ot5gFtL3Ql1TIO6gXnXrEi66s/ecNLukylGZCP4yUaTI',",
    tests: ['test/unit/passwords.test.ts'],
  },
  {
    id: 'dummy-hash-cheaper',
    promise: 'The dummy hash of each cost is a hash of that cost, not a cheaper one.',
    edit: 'the cost-13 dummy replaced by the cost-12 one',
    file: 'shared/domain/passwords.ts',
    from: "13: '$2b$13$fThz/TPdAAxjBeGVZBVIKuqVw5ZOO6HV2BrAuRc8h6ETGcBdkTd..',",
    to: "13: '$2b$12$5yQ1SRW7ot5gFtL3Ql1TIO6gXnXrEi66s/ecNLukylGZCP4yUaTIm',",
    tests: ['test/unit/passwords.test.ts'],
  },
  {
    id: 'lock-compares-first',
    promise: 'A login refused by the lock runs no bcrypt compare (the lock is checked before the password).',
    edit: 'a compare before the refusal',
    file: 'shared/domain/auth-service.ts',
    from: '    const attempt = await logins.begin({ id: randomUUID(), email }, context)\n',
    to:
      '    const attempt = await logins.begin({ id: randomUUID(), email }, context)\n' +
      '    await passwords.verify(password, attempt.user?.hashedPassword ?? null)\n',
    tests: ['test/unit/auth-service.test.ts', 'test/integration/round-trips.test.ts'],
  },
  {
    id: 'lock-one-late',
    promise:
      'Exactly LOGIN_MAX_FAILURES passwords are checked per email and window, however many arrive at once.',
    edit: 'the refusal starts one attempt later',
    file: 'db/repositories/logins.ts',
    from: '              when attempt.failures > ${policy.maxFailures}\n',
    to: '              when attempt.failures > ${policy.maxFailures} + 1\n',
    tests: ['test/e2e/promises.test.ts'],
  },
  {
    id: 'session-cap-off',
    promise: 'A login past SESSION_MAX_PER_USER ends the oldest session, so a user never holds more.',
    edit: 'the cap keeps one session more',
    file: 'db/repositories/logins.ts',
    from: '${pastCap(user.id, sessionPolicy.maxPerUser - 1, context',
    to: '${pastCap(user.id, sessionPolicy.maxPerUser, context',
    tests: ['test/integration/session-limit.test.ts'],
  },
  {
    id: 'verification-not-required',
    promise: 'With EMAIL_VERIFICATION=required an unverified account cannot log in.',
    edit: 'the verification check skipped',
    file: 'shared/domain/auth-service.ts',
    from: "    if (emailVerification === 'required' && !user.emailVerified) {\n",
    to: "    if (emailVerification === 'required' && !user.emailVerified && false) {\n",
    tests: ['test/e2e/email-verification-required.test.ts'],
  },
  // ── Tokens and sessions ──────────────────────────────────────────────────────────────────────────────────────────
  {
    id: 'alg-unpinned',
    promise: 'An access token is RS256 or nothing, whatever its header says.',
    edit: 'the alg check dropped from the verifier',
    file: 'shared/domain/tokens.ts',
    from: 'if (header.alg !== SIGNING_ALGORITHM || header.crit !== undefined',
    to: 'if (header.crit !== undefined',
    tests: ['test/unit/tokens.test.ts'],
  },
  {
    id: 'revoked-session-serves',
    promise: 'An access token of an ended session is refused by /users/me at once, not when it expires.',
    edit: 'the session check of findUser dropped',
    file: 'db/repositories/sessions.ts',
    from: 's.id = ${sessionId}::uuid and s.user_id = u.id and ${live})`',
    to: 's.id = ${sessionId}::uuid and s.user_id = u.id)`',
    tests: ['test/integration/me.test.ts', 'test/integration/sessions.test.ts'],
  },
  {
    id: 'expired-refresh-rotates',
    promise: 'An expired refresh token is refused.',
    edit: 'the expiry left out of rotate',
    file: 'db/repositories/sessions.ts',
    from: 'where t.token_hash = ${hash} and ${rotatable} and t.expires_at > now()',
    to: 'where t.token_hash = ${hash} and ${rotatable}',
    tests: ['test/integration/repository-contracts.test.ts'],
  },
  {
    id: 'replay-not-revoked',
    promise: 'A replayed refresh token (retired, past the reuse interval) ends its session for every holder.',
    edit: 'revocation only through an unretired token',
    file: 'db/repositories/sessions.ts',
    from: "${reason === 'reuse' ? sql`and retired_at is not null` : sql.empty()}",
    to: "${reason === 'reuse' ? sql`and retired_at is null` : sql.empty()}",
    tests: ['test/integration/refresh-logout.test.ts', 'test/integration/repository-contracts.test.ts'],
  },
  {
    id: 'retried-rotation-reapplied',
    promise: 'A refresh retried after its answer was lost gets the same successor, and the session lives on.',
    edit: 'rotate no longer finds the successor its first run stored',
    file: 'db/repositories/sessions.ts',
    from: 'where s.id in (select session_id from target) and not exists (select 1 from done)',
    to: 'where s.id in (select session_id from target)',
    tests: ['test/integration/repository-contracts.test.ts', 'test/e2e/lost-answers.test.ts'],
  },
  {
    id: 'change-keeps-sessions',
    promise: "A password change ends the account's other sessions.",
    edit: 'the sessions revoked by a change left alive',
    file: 'db/repositories/sessions.ts',
    from: 'from changed where s.user_id = changed.id and s.revoked_at is null ${others}',
    to: 'from changed where s.user_id = changed.id and s.revoked_at is null and false ${others}',
    tests: ['test/integration/repository-contracts.test.ts', 'test/e2e/password-lifecycle.test.ts'],
  },
  {
    id: 'admin-for-anyone',
    promise: 'Only an active superuser reaches the admin routes.',
    edit: 'the superuser check dropped',
    file: 'shared/http/authentication.ts',
    from: '    if (!principal.user.isSuperuser) throw new InsufficientPrivilegesError()\n',
    to: '',
    tests: ['test/e2e/admin.test.ts', 'test/e2e/route-callers.test.ts'],
  },
  // ── Password resets and mail ─────────────────────────────────────────────────────────────────────────────────────
  {
    id: 'reset-link-reusable',
    promise: 'A reset link is used up by its confirmation: of two confirmations with one link, one succeeds.',
    edit: 'the link read instead of deleted',
    file: 'db/repositories/password-resets.ts',
    from: '            delete from ${passwordResetTokens} t using ${users} u\n            where t.token_hash = ${tokenHash} and t.expires_at > now() and u.id = t.user_id and u.is_active\n              and ${notVoided}\n            returning t.user_id',
    to: '            select t.user_id from ${passwordResetTokens} t join ${users} u on u.id = t.user_id\n            where t.token_hash = ${tokenHash} and t.expires_at > now() and u.is_active\n              and ${notVoided}',
    tests: ['test/integration/repository-contracts.test.ts', 'test/e2e/password-lifecycle.test.ts'],
  },
  {
    id: 'reset-outlives-change',
    promise: 'A reset link requested before a password change is void after it.',
    edit: 'links never voided',
    file: 'db/repositories/password-resets.ts',
    from: "const notVoided = sql`t.requested_at > coalesce(u.links_revoked_at, '-infinity')`",
    to: 'const notVoided = sql`true`',
    tests: ['test/integration/repository-contracts.test.ts', 'test/e2e/password-lifecycle.test.ts'],
  },
  {
    id: 'address-limit-burst',
    promise: 'One address gets at most its limit of mail requests per window, even in a burst.',
    edit: 'the address refused one request later',
    file: 'db/repositories/mail-requests.ts',
    from: '        where hits > ${policy.ipLimit}::int\n',
    to: '        where hits > ${policy.ipLimit}::int + 1\n',
    tests: ['test/integration/reset-bounds.test.ts', 'test/integration/abuse.test.ts'],
  },
  // ── Accounts and data ────────────────────────────────────────────────────────────────────────────────────────────
  {
    id: 'deletion-ended-session',
    promise: 'A deletion sent with a session ended meanwhile (logout, "end all sessions") erases nothing.',
    edit: "erase_account's live-session check dropped",
    file: 'db/migrations/0021_account_deletion.sql',
    from: 'SELECT 1 FROM sessions WHERE id = p_session_id AND user_id = p_user_id AND revoked_at IS NULL',
    to: 'SELECT 1 FROM sessions WHERE id = p_session_id AND user_id = p_user_id',
    tests: ['test/integration/erasure-checks.test.ts', 'test/e2e/account-deletion.test.ts'],
  },
  {
    id: 'deletion-changed-password',
    promise: 'A deletion whose password was changed or reset meanwhile erases nothing.',
    edit: "erase_account's credential-version check dropped",
    file: 'db/migrations/0021_account_deletion.sql',
    from: '  IF v_credential_version <> p_credential_version OR',
    to: '  IF false OR',
    tests: ['test/integration/erasure-checks.test.ts', 'test/integration/deletion-race.test.ts'],
  },
  {
    id: 'deletion-other-session',
    promise: "A deletion is checked against the account's own session, not any live one.",
    edit: "erase_account's session owner check dropped",
    file: 'db/migrations/0021_account_deletion.sql',
    from: 'SELECT 1 FROM sessions WHERE id = p_session_id AND user_id = p_user_id AND revoked_at IS NULL',
    to: 'SELECT 1 FROM sessions WHERE id = p_session_id AND revoked_at IS NULL',
    tests: ['test/integration/erasure-checks.test.ts'],
  },
  {
    id: 'cutover-row-dropped',
    promise: 'The cutover carries every account of the old database, or changes nothing.',
    edit: 'one planned row left out of the copy',
    file: 'db/cutover/transaction.ts',
    from: "    where p.fate is distinct from 'merged'`)",
    to: "    where p.fate is distinct from 'merged' and p.id <> (select max(id) from ${PLAN_TABLE})`)",
    tests: ['test/integration/cutover.test.ts'],
  },
  {
    id: 'email-code-endless-tries',
    promise: 'An email code takes a bounded number of wrong tries, then is void.',
    edit: 'the tries bound dropped from the check',
    file: 'db/repositories/email-codes.ts',
    from: '      and c.tries < ${EMAIL_CODE_MAX_TRIES}::int and c.requested_at',
    to: '      and c.requested_at',
    tests: ['test/integration/email-codes.test.ts'],
  },
  {
    id: 'erasure-keeps-legacy-row',
    promise: "Deleting a cutover-carried account deletes its old database's row too.",
    edit: 'erase_account leaves legacy_users alone',
    file: 'db/migrations/0021_account_deletion.sql',
    from: "IF to_regclass('legacy_users') IS NOT NULL THEN",
    to: "IF to_regclass('legacy_users') IS NOT NULL AND false THEN",
    tests: ['test/integration/cutover.test.ts'],
  },
  {
    id: 'rls-insert-for-another',
    promise: 'A student cannot write a row owned by another student.',
    edit: 'the insert policy checks nothing',
    file: 'db/migrations/0023_user_preferences.sql',
    from: 'FOR INSERT TO papa_auth_user\n  WITH CHECK ("user_id" = papa_auth.uid());',
    to: 'FOR INSERT TO papa_auth_user\n  WITH CHECK (true);',
    tests: ['test/integration/row-level-security.test.ts'],
  },
  {
    id: 'api-role-grant-all',
    promise: "The API's database role holds exactly the privileges it uses, no more.",
    edit: 'REFERENCES on users granted too (no statement names it)',
    file: 'db/migrations/0004_least_privilege.sql',
    from: 'GRANT SELECT, INSERT, UPDATE ON "users" TO papa_auth_app;',
    to: 'GRANT SELECT, INSERT, UPDATE, REFERENCES ON "users" TO papa_auth_app;',
    tests: ['test/integration/least-privilege.test.ts'],
  },
  {
    id: 'rls-policy-open',
    promise: 'A student reads only their own rows of a user-owned table, whatever the statement asks.',
    edit: 'the select policy matches every row',
    file: 'db/migrations/0023_user_preferences.sql',
    from: 'FOR SELECT TO papa_auth_user\n  USING ("user_id" = papa_auth.uid());',
    to: 'FOR SELECT TO papa_auth_user\n  USING (true);',
    tests: ['test/integration/row-level-security.test.ts'],
  },
  {
    id: 'user-scope-no-role',
    promise: 'Work on user-owned tables runs as the row-level-secured role, never as the API role.',
    edit: 'the SET LOCAL ROLE left out of the scope',
    file: 'db/user-scope.ts',
    from: '        `set local role ${USER_ROLE}`,\n',
    to: '',
    tests: ['test/integration/row-level-security.test.ts'],
  },
  // ── The unit tests' fakes keep the real rules ────────────────────────────────────────────────────────────────────
  {
    id: 'fake-start-always',
    promise: "The in-memory logins start no session on a password replaced meanwhile, as PostgreSQL's do.",
    edit: "the fake's startSession answers true anyway",
    file: 'test/fakes/logins.ts',
    from: '      // A reset, a change or a deactivation committed since the password was checked: nothing starts.\n      if (!account) return false\n',
    to: '      // A reset, a change or a deactivation committed since the password was checked: nothing starts.\n      if (!account) return true\n',
    tests: ['test/unit/fake-contracts.test.ts'],
  },
  {
    id: 'fake-link-outlives-change',
    promise: 'The in-memory resets refuse a link older than the last password change, as PostgreSQL does.',
    edit: "the fake's void check dropped",
    file: 'test/fakes/password-resets.ts',
    from: 'const voided = user?.linksRevokedAt != null && link.requestedAt <= user.linksRevokedAt',
    to: 'const voided = false',
    tests: ['test/unit/fake-contracts.test.ts'],
  },
  {
    id: 'fake-find-user-any-owner',
    promise: "The in-memory findUser refuses a session of another user, as PostgreSQL's does.",
    edit: "the fake's owner check dropped",
    file: 'test/fakes/sessions.ts',
    from: 'if (!session || session.userId !== userId || !live(session, now)) return null',
    to: 'if (!session || !live(session, now)) return null',
    tests: ['test/unit/fake-contracts.test.ts'],
  },
  {
    id: 'fake-rotate-expired',
    promise: 'The in-memory rotate refuses an expired refresh token, as PostgreSQL does.',
    edit: "the fake's expiry check dropped",
    file: 'test/fakes/sessions.ts',
    from: '(token.retiredAt !== null && !withinInterval) || token.expiresAt <= now) return null',
    to: '(token.retiredAt !== null && !withinInterval)) return null',
    tests: ['test/unit/fake-contracts.test.ts'],
  },
  {
    id: 'fake-rotate-old-session',
    promise: 'The in-memory rotate refuses a session past its lifetime, as PostgreSQL does.',
    edit: "the fake's session-age check dropped",
    file: 'test/fakes/sessions.ts',
    from: 'if (!session || !live(session, now) || !findUser(state, session.userId)?.isActive) return null',
    to: 'if (!session || session.revokedAt !== null || !findUser(state, session.userId)?.isActive) return null',
    tests: ['test/unit/fake-contracts.test.ts'],
  },
  {
    id: 'fake-rotate-inactive',
    promise: 'The in-memory rotate refuses the session of a deactivated account, as PostgreSQL does.',
    edit: "the fake's account-status check dropped",
    file: 'test/fakes/sessions.ts',
    from: 'if (!session || !live(session, now) || !findUser(state, session.userId)?.isActive) return null',
    to: 'if (!session || !live(session, now)) return null',
    tests: ['test/unit/fake-contracts.test.ts'],
  },
]

-- migrate: no-transaction
-- Built while the API serves: CONCURRENTLY. The highest cost among the stored bcrypt hashes, in one lookup: every
-- password check is made to cost a compare at that cost (shared/domain/passwords.ts), so its answer takes as long for
-- an unknown email as for any account. The expression is spelled as db/schema.ts `passwordCostOf` spells it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "users_password_cost_idx" ON "users" USING btree (substring("hashed_password", '^[$]2[aby][$](0[4-9]|[12][0-9]|3[01])[$][./A-Za-z0-9]{53}$'));

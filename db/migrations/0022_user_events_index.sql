-- migrate: no-transaction
-- Built while the API serves (five million events): CONCURRENTLY, one statement at a time. `GET /users/me/export`
-- reads a user's newest events in this order, a bounded range of the index instead of a scan of the whole trail; an
-- erasure finds the account's events with an email among them, so the partial index of 0016 it used goes, once the
-- new one is there (no statement is ever without an index on user_id).
CREATE INDEX CONCURRENTLY IF NOT EXISTS "security_events_user_created_idx" ON "security_events" USING btree ("user_id","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
DROP INDEX CONCURRENTLY IF EXISTS "security_events_user_email_idx";

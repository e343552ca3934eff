-- migrate: no-transaction
-- Built while the API serves (3M sessions, 5M audit events): CONCURRENTLY, one statement at a time. The cleanup finds
-- what to purge through sessions_expires_at_idx, and the sessions still to be given an expiry through the partial
-- index (empty once it has). The event_key check needs only the keyed events; the full index it replaces goes in a
-- later deploy, once no deployed statement infers it (an `on conflict (event_key)` without the predicate).
CREATE INDEX CONCURRENTLY IF NOT EXISTS "sessions_expires_at_idx" ON "sessions" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX CONCURRENTLY IF NOT EXISTS "sessions_expires_at_unset_idx" ON "sessions" USING btree ("id") WHERE "sessions"."expires_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "security_events_event_key_partial_key" ON "security_events" USING btree ("event_key") WHERE "security_events"."event_key" is not null;--> statement-breakpoint
-- Read by no statement: sessions are found by id, user and now expiry; events are only appended and purged by age
-- (no statement reads them by user, and users are never deleted, so the foreign key's SET NULL never scans).
DROP INDEX CONCURRENTLY IF EXISTS "sessions_created_at_idx";--> statement-breakpoint
DROP INDEX CONCURRENTLY IF EXISTS "security_events_user_id_idx";

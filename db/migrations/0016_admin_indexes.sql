-- migrate: no-transaction
-- Built while the API serves (a million users, five million events): CONCURRENTLY, one statement at a time. The admin
-- search matches the start of an email or a username (LIKE 'prefix%', which a btree serves only with the pattern
-- operator class); an erasure strips the email from the account's events, found through the partial index.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "users_email_prefix_idx" ON "users" USING btree ("email" text_pattern_ops);--> statement-breakpoint
CREATE INDEX CONCURRENTLY IF NOT EXISTS "users_username_prefix_idx" ON "users" USING btree (lower("username") text_pattern_ops);--> statement-breakpoint
CREATE INDEX CONCURRENTLY IF NOT EXISTS "security_events_user_email_idx" ON "security_events" USING btree ("user_id") WHERE "security_events"."email" is not null;

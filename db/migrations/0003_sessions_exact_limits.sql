-- Sessions as rows: a refresh-token family becomes a session that rotation checks and revocation marks, so a
-- revoked session's tokens are dead whatever the timing. Existing families are carried over as sessions.
CREATE TABLE "sessions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"user_id" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone DEFAULT now() NOT NULL,
	"source_ip" varchar(45),
	"user_agent" varchar(512),
	"revoked_at" timestamp with time zone,
	"revoked_reason" varchar(40)
);
--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "sessions_user_id_idx" ON "sessions" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "sessions_created_at_idx" ON "sessions" USING btree ("created_at");--> statement-breakpoint
INSERT INTO "sessions" ("id", "user_id", "created_at", "last_used_at", "revoked_at", "revoked_reason")
SELECT "family_id", min("user_id"), min("created_at"), max("created_at"),
	max("revoked_at"), CASE WHEN bool_or("revoked_at" IS NOT NULL) THEN 'revoked' END
FROM "refresh_tokens" GROUP BY "family_id";--> statement-breakpoint
-- The token hash is the key: the 4-byte serial id, read by nothing, would have run out.
ALTER TABLE "refresh_tokens" ADD COLUMN "session_id" uuid;--> statement-breakpoint
UPDATE "refresh_tokens" SET "session_id" = "family_id";--> statement-breakpoint
ALTER TABLE "refresh_tokens" ALTER COLUMN "session_id" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "refresh_tokens" DROP CONSTRAINT "refresh_tokens_user_id_users_id_fk";--> statement-breakpoint
DROP INDEX "refresh_tokens_family_id_idx";--> statement-breakpoint
DROP INDEX "refresh_tokens_user_id_idx";--> statement-breakpoint
ALTER TABLE "refresh_tokens" DROP COLUMN "id";--> statement-breakpoint
ALTER TABLE "refresh_tokens" DROP COLUMN "family_id";--> statement-breakpoint
ALTER TABLE "refresh_tokens" DROP COLUMN "user_id";--> statement-breakpoint
ALTER TABLE "refresh_tokens" DROP COLUMN "revoked_at";--> statement-breakpoint
DROP INDEX "refresh_tokens_token_hash_key";--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD PRIMARY KEY ("token_hash");--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD CONSTRAINT "refresh_tokens_session_id_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "refresh_tokens_session_id_idx" ON "refresh_tokens" USING btree ("session_id");--> statement-breakpoint
CREATE INDEX "refresh_tokens_expires_at_idx" ON "refresh_tokens" USING btree ("expires_at");--> statement-breakpoint
-- The exact lock counts each attempt before its compare; a statement retried after a lost answer finds its
-- attempt id here and does not count twice.
ALTER TABLE "login_attempts" ADD COLUMN "recent_attempts" uuid[] DEFAULT '{}'::uuid[] NOT NULL;--> statement-breakpoint
CREATE INDEX "login_attempts_window_started_at_idx" ON "login_attempts" USING btree ("window_started_at");--> statement-breakpoint
CREATE INDEX "rate_limits_window_started_at_idx" ON "rate_limits" USING btree ("window_started_at");--> statement-breakpoint
ALTER TABLE "security_events" ADD COLUMN "event_key" varchar(80);--> statement-breakpoint
CREATE UNIQUE INDEX "security_events_event_key_key" ON "security_events" USING btree ("event_key");

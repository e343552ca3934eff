ALTER TABLE "sessions" ADD COLUMN "expires_at" timestamp with time zone;--> statement-breakpoint
-- The cleanup gets a role of its own: papa_auth_retention may read and delete what the cleanup purges, and set the
-- sessions' expiry on rows from before the column, nothing else. `migrate` grants it to the cleanup's login role
-- (runMigrations), which carries server-side timeouts of its own.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'papa_auth_retention') THEN
		CREATE ROLE papa_auth_retention NOLOGIN;
	END IF;
END
$$;--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO papa_auth_retention;--> statement-breakpoint
GRANT SELECT, DELETE ON "sessions", "refresh_tokens", "login_attempts", "rate_limits", "password_reset_tokens", "mail_outbox", "security_events" TO papa_auth_retention;--> statement-breakpoint
GRANT UPDATE ("expires_at") ON "sessions" TO papa_auth_retention;--> statement-breakpoint
-- The API deleted these only because the cleanup ran as it: it never deletes a session, a token, a window counter,
-- a mail job or an audit event itself (a login clears its email's attempts; a confirmed reset uses its link up).
REVOKE DELETE ON "sessions", "refresh_tokens", "rate_limits", "mail_outbox", "security_events" FROM papa_auth_app;

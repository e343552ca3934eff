-- Least privilege: the role that runs migrations owns the schema; the API connects as a role that is only a member
-- of papa_auth_app, which may read and write the rows the service needs and nothing else: no DDL, no other table,
-- no UPDATE of the audit trail. `migrate` grants membership to the API's login role (runMigrations).
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'papa_auth_app') THEN
		CREATE ROLE papa_auth_app NOLOGIN;
	END IF;
END
$$;--> statement-breakpoint
REVOKE CREATE ON SCHEMA public FROM PUBLIC;--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO papa_auth_app;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE ON "users" TO papa_auth_app;--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "sessions", "refresh_tokens", "login_attempts", "rate_limits" TO papa_auth_app;--> statement-breakpoint
GRANT SELECT, INSERT, DELETE ON "security_events" TO papa_auth_app;--> statement-breakpoint
GRANT USAGE ON SEQUENCE "users_id_seq", "security_events_id_seq" TO papa_auth_app;

-- Row-level security for the app's user-owned tables. `papa_auth_user` is the role user-scoped work runs as: no login,
-- no BYPASSRLS, owner of nothing, only row privileges on user-owned tables; the API's group role may `SET LOCAL ROLE`
-- to it inside a transaction (db/user-scope.ts), which also sets the caller's claims with `set_config(…, true)`.
-- Both die with the transaction, so a transaction-mode pooler (Neon's) never hands them to another client.
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'papa_auth_user') THEN
		CREATE ROLE papa_auth_user NOLOGIN NOINHERIT NOBYPASSRLS;
	END IF;
END
$$;--> statement-breakpoint
-- The API's group may SET ROLE to it but never holds its privileges: papa_auth_app inherits nothing (on PostgreSQL 16+
-- its grants default to INHERIT FALSE; before 16 the chain of inheritance stops at it), so outside runAsUser the
-- API's role is refused (42501) on every user-owned table instead of meeting an empty policy.
ALTER ROLE papa_auth_app NOINHERIT;--> statement-breakpoint
GRANT papa_auth_user TO papa_auth_app;--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO papa_auth_user;--> statement-breakpoint
CREATE SCHEMA IF NOT EXISTS papa_auth;--> statement-breakpoint
-- The calling user's id, from the transaction's claims (the `sub` of the access token the HTTP layer verified); null
-- when no claims are set, so a policy comparing a user id with it matches nothing.
CREATE OR REPLACE FUNCTION papa_auth.uid() RETURNS integer LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN claims ->> 'sub' ~ '^[0-9]{1,10}$' THEN (claims ->> 'sub')::bigint END::integer
  FROM (SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb AS claims) AS c
$$;--> statement-breakpoint
REVOKE ALL ON FUNCTION papa_auth.uid() FROM PUBLIC;--> statement-breakpoint
GRANT USAGE ON SCHEMA papa_auth TO papa_auth_user, papa_auth_app;--> statement-breakpoint
GRANT EXECUTE ON FUNCTION papa_auth.uid() TO papa_auth_user, papa_auth_app;--> statement-breakpoint
CREATE TABLE "user_preferences" (
	"user_id" integer PRIMARY KEY NOT NULL,
	"exam_board" varchar(40),
	"subjects" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "user_preferences" ADD CONSTRAINT "user_preferences_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- The first user-owned table: RLS enabled and forced (the owner too), one policy per command, by owner. Only the
-- user-scoped role may touch it; the API's role has no privilege on it, so outside runAsUser nothing reads it.
ALTER TABLE "user_preferences" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
ALTER TABLE "user_preferences" FORCE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "user_preferences_select_own" ON "user_preferences" FOR SELECT TO papa_auth_user
  USING ("user_id" = papa_auth.uid());--> statement-breakpoint
CREATE POLICY "user_preferences_insert_own" ON "user_preferences" FOR INSERT TO papa_auth_user
  WITH CHECK ("user_id" = papa_auth.uid());--> statement-breakpoint
CREATE POLICY "user_preferences_update_own" ON "user_preferences" FOR UPDATE TO papa_auth_user
  USING ("user_id" = papa_auth.uid()) WITH CHECK ("user_id" = papa_auth.uid());--> statement-breakpoint
CREATE POLICY "user_preferences_delete_own" ON "user_preferences" FOR DELETE TO papa_auth_user
  USING ("user_id" = papa_auth.uid());--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "user_preferences" TO papa_auth_user;

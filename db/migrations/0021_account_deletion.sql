CREATE TABLE "account_deletion_tokens" (
	"user_id" integer PRIMARY KEY NOT NULL,
	"token_hash" text NOT NULL,
	"job_id" uuid NOT NULL,
	"requested_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "account_deletion_tokens" ADD CONSTRAINT "account_deletion_tokens_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "account_deletion_tokens_token_hash_key" ON "account_deletion_tokens" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "account_deletion_tokens_expires_at_idx" ON "account_deletion_tokens" USING btree ("expires_at");--> statement-breakpoint
-- The API role keeps the deletion links as it keeps the reset links (0006); the cleanup purges the expired ones.
GRANT SELECT, INSERT, UPDATE, DELETE ON "account_deletion_tokens" TO papa_auth_app;--> statement-breakpoint
GRANT SELECT, DELETE ON "account_deletion_tokens" TO papa_auth_retention;--> statement-breakpoint
-- The erasure of 0017, for a user's own deletion too: given the session the request came with and the credential
-- version its password was checked against, it erases only while both still hold, read under the account's lock (a
-- password change or reset, a deactivation or "end all sessions" that committed first makes it answer 'stale'; one
-- that comes after finds no account). Without them (an operator's deletion, a mailed link), as before. The notice is
-- queued only where mail is sent (`p_notify`): a deployment without mail keeps no address of an erased account.
CREATE OR REPLACE FUNCTION "erase_account"(
  "p_user_id" integer, "p_actor_id" integer, "p_notice_id" uuid, "p_source_ip" varchar, "p_user_agent" varchar,
  "p_session_id" uuid, "p_credential_version" integer, "p_notify" boolean
) RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_key text := 'account_deleted:' || p_notice_id;
  v_email text;
  v_active_superuser boolean;
  v_credential_version integer;
BEGIN
  IF EXISTS (SELECT 1 FROM security_events WHERE event_key = v_key) THEN
    RETURN 'erased';
  END IF;
  PERFORM 1 FROM users WHERE (is_superuser AND is_active) OR id = p_user_id ORDER BY id FOR UPDATE;
  SELECT email, is_superuser AND is_active, credential_version INTO v_email, v_active_superuser, v_credential_version
    FROM users WHERE id = p_user_id;
  IF NOT FOUND THEN
    RETURN 'not_found';
  END IF;
  IF v_credential_version <> p_credential_version OR (p_session_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM sessions WHERE id = p_session_id AND user_id = p_user_id AND revoked_at IS NULL
  )) THEN
    RETURN 'stale';
  END IF;
  IF v_active_superuser
    AND NOT EXISTS (SELECT 1 FROM users WHERE is_superuser AND is_active AND id <> p_user_id) THEN
    RETURN 'last_superuser';
  END IF;
  IF p_notify THEN
    INSERT INTO mail_outbox (id, kind, user_id, recipient)
      VALUES (p_notice_id, 'account_deleted', NULL, v_email) ON CONFLICT (id) DO NOTHING;
  END IF;
  UPDATE security_events SET email = NULL WHERE user_id = p_user_id AND email IS NOT NULL;
  DELETE FROM login_attempts WHERE email = v_email;
  DELETE FROM users WHERE id = p_user_id;
  -- An account carried over from the FastAPI backend has its old row (and any duplicate merged into it) in the
  -- cutover's legacy_users until an operator drops that table: it goes too. Owned by this function's owner, as the
  -- cutover requires of the old table.
  IF to_regclass('legacy_users') IS NOT NULL THEN
    EXECUTE 'DELETE FROM legacy_users WHERE id = $1 OR lower(btrim(email)) = $2' USING p_user_id, v_email;
  END IF;
  INSERT INTO security_events (type, user_id, actor_id, source_ip, user_agent, event_key)
    VALUES ('account_deleted', p_user_id, p_actor_id, p_source_ip, p_user_agent, v_key)
    ON CONFLICT (event_key) WHERE event_key IS NOT NULL DO NOTHING;
  RETURN 'erased';
END;
$$;
--> statement-breakpoint
-- The five-argument form stays for code deployed before this migration (migrate runs before the functions change);
-- a later migration drops it once no deployed code calls it.
CREATE OR REPLACE FUNCTION "erase_account"(
  "p_user_id" integer, "p_actor_id" integer, "p_notice_id" uuid, "p_source_ip" varchar, "p_user_agent" varchar
) RETURNS text LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT erase_account(p_user_id, p_actor_id, p_notice_id, p_source_ip, p_user_agent, NULL::uuid, NULL::integer, true);
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION "erase_account"(integer, integer, uuid, varchar, varchar, uuid, integer, boolean) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION "erase_account"(integer, integer, uuid, varchar, varchar, uuid, integer, boolean) TO papa_auth_app;
--> statement-breakpoint
-- A mailed deletion link, confirmed: the link's account locked as the erasure locks it, the link checked again under
-- that lock (live, not expired, not voided since it was requested, the account active), then the same erasure. Of two
-- confirmations of one link, the second finds the account gone: 'invalid'. The link goes with the account's row.
CREATE OR REPLACE FUNCTION "erase_account_by_link"(
  "p_token_hash" text, "p_notice_id" uuid, "p_source_ip" varchar, "p_user_agent" varchar, "p_notify" boolean
) RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_user_id integer;
BEGIN
  IF EXISTS (SELECT 1 FROM security_events WHERE event_key = 'account_deleted:' || p_notice_id) THEN
    RETURN 'erased';
  END IF;
  SELECT user_id INTO v_user_id FROM account_deletion_tokens WHERE token_hash = p_token_hash;
  IF NOT FOUND THEN
    RETURN 'invalid';
  END IF;
  PERFORM 1 FROM users WHERE (is_superuser AND is_active) OR id = v_user_id ORDER BY id FOR UPDATE;
  -- A new statement, so a new snapshot: it sees whatever committed while the lock was awaited.
  PERFORM 1 FROM account_deletion_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = p_token_hash AND t.user_id = v_user_id AND t.expires_at > now() AND u.is_active
      AND t.requested_at > coalesce(u.links_revoked_at, '-infinity');
  IF NOT FOUND THEN
    RETURN 'invalid';
  END IF;
  RETURN erase_account(v_user_id, NULL, p_notice_id, p_source_ip, p_user_agent, NULL, NULL, p_notify);
END;
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION "erase_account_by_link"(text, uuid, varchar, varchar, boolean) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION "erase_account_by_link"(text, uuid, varchar, varchar, boolean) TO papa_auth_app;
--> statement-breakpoint
-- No event keeps the email of an erased account: the erasure strips the ones it sees, and this catches one written
-- after it by a statement that read the account before it was gone (a failed login racing the deletion). Read with
-- the inserting statement's own fresh look at `users`; only events that name a user and carry an address pay for it.
CREATE OR REPLACE FUNCTION "security_events_forget_erased"() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF NEW.user_id IS NOT NULL AND NEW.email IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.user_id) THEN
    NEW.email := NULL;
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "security_events_forget_erased" BEFORE INSERT ON "security_events"
  FOR EACH ROW EXECUTE FUNCTION "security_events_forget_erased"();

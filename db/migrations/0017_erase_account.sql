-- The one erasure of an account, for every way to leave (the user's deletion, the mailed link, an operator's
-- DELETE /admin/users/{id}). The API's role may not delete users or rewrite the audit trail (0004); it may run this
-- function, which does exactly the erasure, with the owner's rights (SECURITY DEFINER, a fixed search_path):
-- every active superuser and the account locked in id order (as an admin change locks them), the last active
-- superuser refused, a notice queued to the address the account had (taken before the erasure), the account's events
-- stripped of any email, its failed-login count and its row deleted (sessions, refresh tokens, reset links and pending
-- mail jobs go with the row), and one event. Run again with the same notice id (a retry), it answers 'erased'.
CREATE OR REPLACE FUNCTION "erase_account"(
  "p_user_id" integer, "p_actor_id" integer, "p_notice_id" uuid, "p_source_ip" varchar, "p_user_agent" varchar
) RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_key text := 'account_deleted:' || p_notice_id;
  v_email text;
  v_active_superuser boolean;
BEGIN
  IF EXISTS (SELECT 1 FROM security_events WHERE event_key = v_key) THEN
    RETURN 'erased';
  END IF;
  PERFORM 1 FROM users WHERE (is_superuser AND is_active) OR id = p_user_id ORDER BY id FOR UPDATE;
  SELECT email, is_superuser AND is_active INTO v_email, v_active_superuser FROM users WHERE id = p_user_id;
  IF NOT FOUND THEN
    RETURN 'not_found';
  END IF;
  IF v_active_superuser
    AND NOT EXISTS (SELECT 1 FROM users WHERE is_superuser AND is_active AND id <> p_user_id) THEN
    RETURN 'last_superuser';
  END IF;
  INSERT INTO mail_outbox (id, kind, user_id, recipient)
    VALUES (p_notice_id, 'account_deleted', NULL, v_email) ON CONFLICT (id) DO NOTHING;
  UPDATE security_events SET email = NULL WHERE user_id = p_user_id AND email IS NOT NULL;
  DELETE FROM login_attempts WHERE email = v_email;
  DELETE FROM users WHERE id = p_user_id;
  INSERT INTO security_events (type, user_id, actor_id, source_ip, user_agent, event_key)
    VALUES ('account_deleted', p_user_id, p_actor_id, p_source_ip, p_user_agent, v_key)
    ON CONFLICT (event_key) WHERE event_key IS NOT NULL DO NOTHING;
  RETURN 'erased';
END;
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION "erase_account"(integer, integer, uuid, varchar, varchar) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION "erase_account"(integer, integer, uuid, varchar, varchar) TO papa_auth_app;

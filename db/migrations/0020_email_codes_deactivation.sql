-- A deactivation voids the account's pending email codes as it voids its reset links (migration 0012): deleted in
-- the statement that deactivates, and stamped (links_revoked_at) so a code mail being sent issues none.
CREATE OR REPLACE FUNCTION "users_deactivation_voids"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD."is_active" AND NOT NEW."is_active" THEN
    NEW."credential_version" := OLD."credential_version" + 1;
    NEW."links_revoked_at" := clock_timestamp();
    DELETE FROM "password_reset_tokens" WHERE "user_id" = NEW."id";
    DELETE FROM "email_codes" WHERE "user_id" = NEW."id";
  END IF;
  RETURN NEW;
END $$;

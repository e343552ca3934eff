ALTER TABLE "users" ADD COLUMN "links_revoked_at" timestamp with time zone;--> statement-breakpoint
-- A deactivation, by whatever path (an operator's SQL today, the admin API later), ends the credential in the
-- statement that deactivates: a login checked before it starts no session, and the account's reset links are void
-- (deleted, and stamped so a mail being sent issues none). Reactivating restores none of it.
CREATE OR REPLACE FUNCTION "users_deactivation_voids"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD."is_active" AND NOT NEW."is_active" THEN
    NEW."credential_version" := OLD."credential_version" + 1;
    NEW."links_revoked_at" := clock_timestamp();
    DELETE FROM "password_reset_tokens" WHERE "user_id" = NEW."id";
  END IF;
  RETURN NEW;
END $$;
--> statement-breakpoint
CREATE TRIGGER "users_deactivation_voids" BEFORE UPDATE OF "is_active" ON "users" FOR EACH ROW EXECUTE FUNCTION "users_deactivation_voids"();

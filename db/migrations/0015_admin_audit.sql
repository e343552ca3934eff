-- The admin actions' audit: who acted (actor_id) and what changed (details). An erased account's events keep its id
-- (no foreign key any more: SET NULL would have erased the who of the trail) and lose its email. A notice to an erased
-- account carries its address (recipient), taken before the erasure, and no user.
ALTER TABLE "security_events" DROP CONSTRAINT "security_events_user_id_users_id_fk";
--> statement-breakpoint
ALTER TABLE "mail_outbox" ALTER COLUMN "user_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "mail_outbox" ADD COLUMN "recipient" varchar(254);--> statement-breakpoint
ALTER TABLE "security_events" ADD COLUMN "actor_id" integer;--> statement-breakpoint
ALTER TABLE "security_events" ADD COLUMN "details" jsonb;

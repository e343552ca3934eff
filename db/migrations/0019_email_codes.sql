CREATE TABLE "email_codes" (
	"user_id" integer NOT NULL,
	"purpose" varchar(10) NOT NULL,
	"code_hash" text NOT NULL,
	"new_email" varchar(254),
	"job_id" uuid NOT NULL,
	"requested_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"tries" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "email_codes_purpose" CHECK ("email_codes"."purpose" in ('verify', 'change'))
);
--> statement-breakpoint
ALTER TABLE "email_codes" ADD CONSTRAINT "email_codes_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "email_codes_user_purpose_key" ON "email_codes" USING btree ("user_id","purpose");--> statement-breakpoint
CREATE INDEX "email_codes_expires_at_idx" ON "email_codes" USING btree ("expires_at");--> statement-breakpoint
-- The API role reads and writes the codes as it does the reset links (migration 0006): no DDL.
GRANT SELECT, INSERT, UPDATE, DELETE ON "email_codes" TO papa_auth_app;--> statement-breakpoint
GRANT SELECT, DELETE ON "email_codes" TO papa_auth_retention;

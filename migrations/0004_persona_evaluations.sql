CREATE TABLE "persona_evaluations" (
	"id" serial PRIMARY KEY NOT NULL,
	"persona_slug" text NOT NULL,
	"version" integer NOT NULL,
	"served_model" text NOT NULL,
	"card_hash" text NOT NULL,
	"probe_set_hash" text NOT NULL,
	"metrics" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "persona_evaluations" ADD CONSTRAINT "persona_evaluations_persona_slug_personas_slug_fk" FOREIGN KEY ("persona_slug") REFERENCES "public"."personas"("slug") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "persona_evaluations_slug_version_idx" ON "persona_evaluations" USING btree ("persona_slug","version","created_at");
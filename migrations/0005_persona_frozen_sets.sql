CREATE TABLE "persona_frozen_sets" (
	"persona_slug" text PRIMARY KEY NOT NULL,
	"card_hash" text NOT NULL,
	"lines" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "persona_frozen_sets" ADD CONSTRAINT "persona_frozen_sets_persona_slug_personas_slug_fk" FOREIGN KEY ("persona_slug") REFERENCES "public"."personas"("slug") ON DELETE cascade ON UPDATE no action;
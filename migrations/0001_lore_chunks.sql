CREATE TABLE "lore_chunks" (
	"id" serial PRIMARY KEY NOT NULL,
	"persona_slug" text NOT NULL,
	"card_hash" text NOT NULL,
	"section" text NOT NULL,
	"chunk_no" integer NOT NULL,
	"content" text NOT NULL,
	"tsv" "tsvector" GENERATED ALWAYS AS (to_tsvector('english', section || ' ' || content)) STORED NOT NULL
);
--> statement-breakpoint
CREATE INDEX "lore_chunks_persona_idx" ON "lore_chunks" USING btree ("persona_slug");--> statement-breakpoint
CREATE INDEX "lore_chunks_tsv_idx" ON "lore_chunks" USING gin ("tsv");
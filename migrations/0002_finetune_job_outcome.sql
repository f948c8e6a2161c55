ALTER TABLE "finetune_jobs" ADD COLUMN "persona_version_id" integer;--> statement-breakpoint
ALTER TABLE "finetune_jobs" ADD COLUMN "trainer_cleaned_at" timestamp with time zone;
CREATE TABLE "channel_settings" (
	"channel_id" text PRIMARY KEY NOT NULL,
	"guild_id" text NOT NULL,
	"logging_enabled" boolean DEFAULT false NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "consent_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"guild_id" text NOT NULL,
	"user_id" text NOT NULL,
	"action" text NOT NULL,
	"policy_version" integer NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "consents" (
	"guild_id" text NOT NULL,
	"user_id" text NOT NULL,
	"status" text NOT NULL,
	"policy_version" integer NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "consents_guild_id_user_id_pk" PRIMARY KEY("guild_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "conversations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"guild_id" text,
	"channel_id" text NOT NULL,
	"persona_slug" text NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "dataset_lines" (
	"dataset_version_id" integer NOT NULL,
	"line_no" integer NOT NULL,
	"split" text NOT NULL,
	"line_enc" "bytea" NOT NULL,
	"contributors" text[] DEFAULT '{}'::text[] NOT NULL,
	"guild_ids" text[] DEFAULT '{}'::text[] NOT NULL,
	CONSTRAINT "dataset_lines_dataset_version_id_line_no_pk" PRIMARY KEY("dataset_version_id","line_no")
);
--> statement-breakpoint
CREATE TABLE "dataset_versions" (
	"id" serial PRIMARY KEY NOT NULL,
	"persona_slug" text NOT NULL,
	"content_hash" text NOT NULL,
	"line_count" integer NOT NULL,
	"stats" jsonb NOT NULL,
	"redacted_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "erasure_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"counts" jsonb NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "finetune_job_events" (
	"job_id" uuid NOT NULL,
	"seq" integer NOT NULL,
	"event" jsonb NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "finetune_job_events_job_id_seq_pk" PRIMARY KEY("job_id","seq")
);
--> statement-breakpoint
CREATE TABLE "finetune_jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"persona_slug" text NOT NULL,
	"trainer_job_id" text,
	"dataset_version_id" integer,
	"base_model" text NOT NULL,
	"hyperparameters" jsonb NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"progress" jsonb,
	"error" text,
	"guild_id" text,
	"channel_id" text,
	"status_message_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "logged_messages" (
	"id" text PRIMARY KEY NOT NULL,
	"guild_id" text NOT NULL,
	"channel_id" text NOT NULL,
	"parent_channel_id" text,
	"author_id" text NOT NULL,
	"source" text DEFAULT 'discord' NOT NULL,
	"reply_to_id" text,
	"content_enc" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"edited_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "persona_replies" (
	"message_id" text PRIMARY KEY NOT NULL,
	"conversation_id" uuid,
	"guild_id" text,
	"channel_id" text NOT NULL,
	"persona_slug" text NOT NULL,
	"persona_version_id" integer,
	"model" text NOT NULL,
	"user_hmac" text,
	"in_reply_to_id" text,
	"content_enc" "bytea",
	"prompt_tokens" integer,
	"completion_tokens" integer,
	"ttft_ms" real,
	"total_ms" real,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "persona_versions" (
	"id" serial PRIMARY KEY NOT NULL,
	"persona_slug" text NOT NULL,
	"version" integer NOT NULL,
	"ollama_model" text NOT NULL,
	"base_model" text NOT NULL,
	"dataset_version_id" integer,
	"finetune_job_id" uuid,
	"hyperparameters" jsonb,
	"metrics" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "personas" (
	"slug" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"card_hash" text NOT NULL,
	"active_version_id" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "reactions" (
	"message_id" text NOT NULL,
	"user_hmac" text NOT NULL,
	"emoji" text NOT NULL,
	"guild_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "reactions_message_id_user_hmac_emoji_pk" PRIMARY KEY("message_id","user_hmac","emoji")
);
--> statement-breakpoint
ALTER TABLE "dataset_lines" ADD CONSTRAINT "dataset_lines_dataset_version_id_dataset_versions_id_fk" FOREIGN KEY ("dataset_version_id") REFERENCES "public"."dataset_versions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "finetune_job_events" ADD CONSTRAINT "finetune_job_events_job_id_finetune_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."finetune_jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "persona_versions" ADD CONSTRAINT "persona_versions_persona_slug_personas_slug_fk" FOREIGN KEY ("persona_slug") REFERENCES "public"."personas"("slug") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "channel_settings_guild_idx" ON "channel_settings" USING btree ("guild_id");--> statement-breakpoint
CREATE INDEX "consent_events_user_idx" ON "consent_events" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "consent_events_guild_idx" ON "consent_events" USING btree ("guild_id");--> statement-breakpoint
CREATE INDEX "consents_user_idx" ON "consents" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "conversations_one_active_per_channel_idx" ON "conversations" USING btree ("channel_id") WHERE "conversations"."status" = 'active';--> statement-breakpoint
CREATE INDEX "conversations_guild_idx" ON "conversations" USING btree ("guild_id");--> statement-breakpoint
CREATE INDEX "dataset_lines_contributors_idx" ON "dataset_lines" USING gin ("contributors");--> statement-breakpoint
CREATE INDEX "dataset_lines_guilds_idx" ON "dataset_lines" USING gin ("guild_ids");--> statement-breakpoint
CREATE INDEX "dataset_versions_persona_idx" ON "dataset_versions" USING btree ("persona_slug","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "finetune_jobs_one_open_per_persona_idx" ON "finetune_jobs" USING btree ("persona_slug") WHERE "finetune_jobs"."status" in ('pending', 'queued', 'running', 'converting');--> statement-breakpoint
CREATE INDEX "logged_messages_author_idx" ON "logged_messages" USING btree ("author_id");--> statement-breakpoint
CREATE INDEX "logged_messages_guild_idx" ON "logged_messages" USING btree ("guild_id");--> statement-breakpoint
CREATE INDEX "logged_messages_channel_idx" ON "logged_messages" USING btree ("channel_id","created_at");--> statement-breakpoint
CREATE INDEX "logged_messages_created_idx" ON "logged_messages" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "persona_replies_user_idx" ON "persona_replies" USING btree ("user_hmac");--> statement-breakpoint
CREATE INDEX "persona_replies_persona_idx" ON "persona_replies" USING btree ("persona_slug","persona_version_id");--> statement-breakpoint
CREATE INDEX "persona_replies_guild_idx" ON "persona_replies" USING btree ("guild_id");--> statement-breakpoint
CREATE UNIQUE INDEX "persona_versions_slug_version_idx" ON "persona_versions" USING btree ("persona_slug","version");--> statement-breakpoint
CREATE INDEX "reactions_user_idx" ON "reactions" USING btree ("user_hmac");--> statement-breakpoint
CREATE INDEX "reactions_guild_idx" ON "reactions" USING btree ("guild_id");
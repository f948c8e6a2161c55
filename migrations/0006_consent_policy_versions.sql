CREATE TABLE "consent_policy_versions" (
	"version" integer PRIMARY KEY NOT NULL,
	"text_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);

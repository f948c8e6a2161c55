import { defineConfig } from 'drizzle-kit';

// drizzle-kit generates SQL migrations from bot/db/schema.ts (the single source of truth).
// Migrations are applied by the bot at start-up; never edit migrations/ by hand.
export default defineConfig({
  dialect: 'postgresql',
  schema: './bot/db/schema.ts',
  out: './migrations',
  strict: true,
});

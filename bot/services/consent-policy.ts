import { createHash } from 'node:crypto';
import { desc } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { consentPolicyVersions } from '../db/schema.js';

/**
 * The consent policy users agree to with /consent opt-in. Bump `version` whenever the text
 * changes in substance: logging of every user stops until they opt in to the new version. The
 * text also depends on the configuration (retention, chat-log training): `policyInForce` makes a
 * change there a new version too.
 */
export interface ConsentPolicy {
  version: number;
  text: (opts: { retentionDays: number; chatLogTraining: boolean }) => string;
}

export const CONSENT_POLICY: ConsentPolicy = {
  version: 1,
  text: ({ retentionDays, chatLogTraining }) =>
    [
      `**What is stored:** the text of the messages you send in channels where an admin turned logging on (threads follow their channel), encrypted at rest, with their ids and times. Reactions you add to persona replies are stored under a one-way pseudonym, never your id.`,
      `**For how long:** ${retentionDays} days, then deleted automatically.`,
      `**What it is used for:** conversation memory and scorecards for this server's personas${
        chatLogTraining
          ? ', and building their training datasets (this server enabled training on chat logs)'
          : '. It is not used to train models unless the server operator enables that and says so'
      }.`,
      `**How to leave:** \`/consent opt-out\` stops logging at once; \`/consent forget\` erases everything stored about you, here and in every other server using this bot. A model already trained before a forget is not retrained automatically; the next training run excludes you.`,
    ].join('\n'),
};

export interface PolicyContext {
  retentionDays: number;
  chatLogTraining: boolean;
}

/**
 * The policy as it is in force with this configuration. Every text ever shown is recorded with
 * its version (consent_policy_versions): the same text as the latest keeps its version; a text
 * that differs (RETENTION_DAYS or ALLOW_CHAT_LOG_TRAINING changed, or the wording), or a bumped
 * `policy.version`, becomes the next version, so nobody stays logged under terms they did not see.
 */
export async function policyInForce(db: Db, policy: ConsentPolicy, context: PolicyContext): Promise<ConsentPolicy> {
  const textHash = createHash('sha256').update(policy.text(context)).digest('hex');
  for (;;) {
    const [latest] = await db.select().from(consentPolicyVersions).orderBy(desc(consentPolicyVersions.version)).limit(1);
    if (latest && latest.textHash === textHash && latest.version >= policy.version) return { ...policy, version: latest.version };
    const version = Math.max((latest?.version ?? 0) + 1, policy.version);
    const inserted = await db.insert(consentPolicyVersions).values({ version, textHash }).onConflictDoNothing().returning();
    if (inserted.length > 0) return { ...policy, version };
    // Another bot process recorded a version at the same moment: look again.
  }
}

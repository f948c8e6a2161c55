/**
 * The consent policy users agree to with /consent opt-in. Bump `version` whenever the text
 * changes in substance: logging of every user stops until they opt in to the new version.
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

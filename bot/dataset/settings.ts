export interface DatasetSettings {
  /** Dialogues generated per lore chunk (0: none). */
  syntheticPerChunk: number;
  syntheticTemperature: number;
  syntheticNumPredict: number;
  /** Teacher dialogues planned from the question bank (0: none; sources/teacher-dialogues.ts). */
  teacherDialogues: number;
  /** Candidates sampled per teacher reply; the best-fitting one is kept. */
  teacherBestOf: number;
  /** Most tokens per teacher reply. */
  teacherMaxTokens: number;
  /** Share of teacher dialogues with a follow-up exchange. */
  teacherMultiTurnShare: number;
  /** Teacher replies generated at once. */
  teacherConcurrency: number;
  minUserChars: number;
  minReplyChars: number;
  maxTurnChars: number;
  /** Token budget of one line (estimateTokens); older turns are dropped to fit. */
  maxTokens: number;
  maxContextTurns: number;
  sessionGapMinutes: number;
  nearDuplicateThreshold: number;
  /** Largest share of the lines one user may supply (0-1). */
  perUserShare: number;
  /** Speakers (the persona's own voice) are not capped when true. */
  capExemptSpeakers: boolean;
  evalShare: number;
  /** A conversation reply needs at least this many 👍 (and never more 👎 than 👍). */
  minThumbsUp: number;
  /** Put the persona's system prompt first in every line. */
  systemTurn: boolean;
  batchSize: number;
}

export const DEFAULT_SETTINGS: DatasetSettings = {
  syntheticPerChunk: 2,
  syntheticTemperature: 0.8,
  syntheticNumPredict: 160,
  // Off unless configured: the bot turns it on (DATASET_TEACHER_DIALOGUES), so a bare build stays cheap.
  teacherDialogues: 0,
  teacherBestOf: 3,
  teacherMaxTokens: 80,
  teacherMultiTurnShare: 0.35,
  teacherConcurrency: 3,
  minUserChars: 2,
  minReplyChars: 20,
  maxTurnChars: 4000,
  maxTokens: 1024,
  maxContextTurns: 8,
  sessionGapMinutes: 60,
  nearDuplicateThreshold: 0.8,
  perUserShare: 0.2,
  capExemptSpeakers: false,
  evalShare: 0.1,
  minThumbsUp: 1,
  systemTurn: true,
  batchSize: 1000,
};

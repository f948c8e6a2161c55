export interface DatasetSettings {
  /** Dialogues generated per lore chunk (0: none). */
  syntheticPerChunk: number;
  syntheticTemperature: number;
  syntheticNumPredict: number;
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

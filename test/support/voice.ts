import type { PersonaCard } from '../../bot/personas/card.js';
import type { PersonaVoice } from '../../bot/services/chat.js';
import { snowflake } from './db.js';

let next = 900_000_000;

/** A voice that records what a transport would have shown: each delta, and the final text. */
export function recordingVoice(): PersonaVoice & { messages: { persona: string; deltas: string[]; final: string; id: string }[] } {
  const messages: { persona: string; deltas: string[]; final: string; id: string }[] = [];
  return {
    messages,
    async speak(persona: PersonaCard, produce) {
      const entry = { persona: persona.name, deltas: [] as string[], final: '', id: snowflake(next++) };
      messages.push(entry);
      entry.final = await produce((d) => entry.deltas.push(d));
      return { messageId: entry.id };
    },
  };
}

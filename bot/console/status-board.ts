import type { StatusBoard } from '../services/finetune/status.js';
import { saveAttachments } from './attachments.js';
import { consoleSnowflake } from './console.js';

/**
 * Training status in the terminal. A terminal cannot edit a line printed long ago, so an edit is
 * printed when the job's state line changes, and otherwise at most every `everyMs`.
 */
export function consoleStatusBoard(out: (text: string) => void, attachmentsDir: string, everyMs = 10_000): StatusBoard {
  const shown = new Map<string, { head: string; at: number }>();
  const print = (id: string, text: string) => {
    shown.set(id, { head: text.split('\n')[0]!, at: Date.now() });
    out(`\n${text.replace(/\*\*/g, '')}\n`);
  };
  return {
    async post(_channelId, text) {
      const id = consoleSnowflake();
      print(id, text);
      return id;
    },
    async edit(_channelId, messageId, text, files = []) {
      const last = shown.get(messageId);
      if (files.length === 0 && last && last.head === text.split('\n')[0] && Date.now() - last.at < everyMs) return;
      print(messageId, text);
      await saveAttachments(out, attachmentsDir, files);
    },
  };
}

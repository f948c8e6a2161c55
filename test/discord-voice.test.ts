import { describe, expect, it } from 'vitest';
import { cleanWebhookName, MAX_CONTENT, splitContent } from '../bot/discord/voice.js';

describe('persona messages in Discord', () => {
  it('splits replies longer than 2,000 characters at line or word boundaries', () => {
    const long = Array.from({ length: 700 }, (_, i) => `word${i}`).join(' ');
    const parts = splitContent(long);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(MAX_CONTENT);
    expect(parts.join(' ')).toBe(long);
    expect(splitContent('')).toEqual(['…']);
  });

  it('cleans names Discord rejects for webhooks', () => {
    expect(cleanWebhookName('Discord Clyde')).not.toMatch(/discord|clyde/i);
    expect(cleanWebhookName('x'.repeat(100))).toHaveLength(80);
    expect(cleanWebhookName('   ')).toBe('Persona');
  });
});

import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PersonaRegistry } from '../../bot/personas/registry.js';

describe('persona registry', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'persona-registry-'));
    cpSync('persona-data/glordon.md', path.join(dir, 'glordon.md'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reports a malformed card with its file and line, and still loads the others', async () => {
    writeFileSync(path.join(dir, 'broken.md'), '---\nname: Broken\ngreeting: hi\nnsfw: maybe\n---\n## Personality\nx\n');
    writeFileSync(path.join(dir, 'Bad Name.md'), '---\nname: X\ngreeting: hi\n---\n## Personality\nx\n');
    const registry = new PersonaRegistry(dir);
    const { loaded, errors } = await registry.load();
    expect(loaded).toBe(1);
    expect(registry.list().map((c) => c.name)).toEqual(['Glordon']);
    const messages = errors.map((e) => e.message);
    expect(messages).toContainEqual(expect.stringMatching(/broken\.md:4: nsfw: expected true or false/));
    expect(messages).toContainEqual(expect.stringMatching(/Bad Name\.md: file name must be <slug>\.md/));
  });

  it('never runs a card’s front matter as code: only YAML is parsed, with the safe schema, and anything else is refused naming the file', async () => {
    const ran = path.join(dir, 'ran');
    const payload = `require('fs').writeFileSync(${JSON.stringify(ran)}, 'pwned')`;
    const cards = {
      'js.md': `---js\n{ name: 'Js', greeting: ${payload} }\n---\n## Personality\nx\n`,
      'javascript.md': `---javascript\n({ name: 'Javascript', greeting: ${payload} })\n---\n## Personality\nx\n`,
      'coffee.md': `---coffee\nname: 'Coffee'\ngreeting: ${payload}\n---\n## Personality\nx\n`,
      'json.md': `---json\n{"name": "Json", "greeting": "hi"}\n---\n## Personality\nx\n`,
      'spaced.md': `--- js\n{ name: 'Spaced', greeting: ${payload} }\n---\n## Personality\nx\n`,
      'tagged.md': `---\nname: Tagged\ngreeting: !!js/function "function () { ${payload.replace(/"/g, '\\"')} }"\n---\n## Personality\nx\n`,
    };
    for (const [f, text] of Object.entries(cards)) writeFileSync(path.join(dir, f), text);
    const registry = new PersonaRegistry(dir);
    const { loaded, errors } = await registry.load();
    expect(existsSync(ran)).toBe(false);
    expect(loaded).toBe(1); // Glordon only
    for (const f of ['js.md', 'javascript.md', 'coffee.md', 'json.md', 'spaced.md']) {
      const e = errors.find((x) => x.file.endsWith(f));
      expect(e?.message, f).toMatch(/:1: front matter must be YAML: the first line must be "---" alone/);
    }
    expect(errors.find((x) => x.file.endsWith('tagged.md'))?.message).toMatch(/tagged\.md:3: front matter is not valid YAML: unknown tag/);
  });

  it('re-reads cards when their files change', async () => {
    const registry = new PersonaRegistry(dir);
    await registry.load();
    registry.watch();
    try {
      writeFileSync(path.join(dir, 'pebble.md'), '---\nname: Pebble\ngreeting: "..."\n---\n## Personality\nA quiet stone.\n');
      const deadline = Date.now() + 5000;
      while (!registry.find('Pebble') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(registry.get('pebble').personality).toBe('A quiet stone.');
    } finally {
      registry.stop();
    }
  });

  it('looks personas up only among loaded cards: names never become paths', async () => {
    const registry = new PersonaRegistry(dir);
    await registry.load();
    expect(registry.get('GLORDON').slug).toBe('glordon');
    for (const evil of ['../glordon', '../../etc/passwd', '/etc/passwd', 'glordon.md', 'glordon/../glordon']) {
      expect(() => registry.get(evil)).toThrow(/There is no persona called/);
    }
    expect(registry.autocomplete('gl')).toEqual([{ name: 'Glordon', value: 'Glordon' }]);
  });

  it('fails clearly when the folder is missing', async () => {
    await expect(new PersonaRegistry(path.join(dir, 'nope')).load()).rejects.toThrow(/cannot read the persona folder/);
  });
});

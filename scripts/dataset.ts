/**
 * `npm run dataset -- --persona glordon [--server <guild id>] [--out file] [--format messages|sharegpt|alpaca] [--no-store]`
 *
 * Builds a persona's dataset from the configured database (DATABASE_URL, or the embedded one in
 * DATA_DIR: stop the bot first, an embedded database has one user at a time), stores it as a
 * dataset version, and writes the export to --out (or stdout). Progress and the statistics go
 * to stderr. The operator's view: every server's consented chat logs, or with --server one server's
 * (what that server's admins get from `/persona dataset`).
 */
import { once } from 'node:events';
import { chmodSync, createWriteStream, existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { datasetOptions } from '../bot/app.js';
import { loadConfig } from '../bot/config.js';
import { resolveKeyRing } from '../bot/crypto/secrets.js';
import { openDatabase } from '../bot/db/client.js';
import { createModelBackend } from '../bot/inference/backends.js';
import { CONSENT_POLICY, policyInForce } from '../bot/services/consent-policy.js';
import { PersonaRegistry } from '../bot/personas/registry.js';
import { PrivacyState } from '../bot/services/privacy-state.js';
import { buildDataset } from '../bot/dataset/build.js';
import type { ExportFormat } from '../bot/dataset/export.js';
import { EXPORT_FORMATS, exportLine } from '../bot/dataset/export.js';
import { summarize } from '../bot/dataset/stats.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      persona: { type: 'string' },
      server: { type: 'string' },
      out: { type: 'string' },
      format: { type: 'string', default: 'messages' },
      'no-store': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || !values.persona) {
    process.stderr.write('usage: npm run dataset -- --persona <slug> [--server <guild id>] [--out file] [--format messages|sharegpt|alpaca] [--no-store]\n');
    return values.help ? 0 : 2;
  }
  const format = values.format as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) {
    process.stderr.write(`--format: expected one of ${EXPORT_FORMATS.join(', ')}, got "${values.format}"\n`);
    return 2;
  }
  if (values.server !== undefined && !/^\d{1,25}$/.test(values.server)) {
    process.stderr.write(`--server: expected a Discord server (guild) id, digits only, got "${values.server}"\n`);
    return 2;
  }
  const config = loadConfig();
  const personas = new PersonaRegistry(config.personaDir);
  const loaded = await personas.load();
  for (const e of loaded.errors) process.stderr.write(`card skipped: ${e.message}\n`);
  const card = personas.find(values.persona);
  if (!card) {
    process.stderr.write(`no persona "${values.persona}" in ${config.personaDir} (have: ${personas.list().map((c) => c.slug).join(', ') || 'none'})\n`);
    return 2;
  }
  const keys = resolveKeyRing(config);
  const database = await openDatabase({ url: config.database.url, pgliteDir: path.join(config.dataDir, 'pglite'), poolMax: 2 });
  try {
    // The version the bot has in force with this configuration: only consent to it counts.
    const policy = await policyInForce(database.db, CONSENT_POLICY, { retentionDays: config.retention.days, chatLogTraining: config.allowChatLogTraining });
    const privacy = new PrivacyState(policy.version);
    await privacy.load(database.db);
    const bar = progressBar();
    const options = datasetOptions(config); // DATASET_* as the bot uses them
    const baseModel = card.model.base ?? config.inference.baseModel;
    const build = await buildDataset(
      { db: database.db, keys, llm: createModelBackend(config.inference) },
      {
        card,
        policyVersion: policy.version,
        allowChatLogTraining: config.allowChatLogTraining,
        baseModel,
        teacherModel: options.teacherModel ?? baseModel,
        contextTokens: options.contextTokens,
        cacheDir: path.join(config.dataDir, 'dataset-cache'),
        consent: (g, u) => privacy.hasConsent(g, u),
        logScope: values.server ? { guildId: values.server } : 'every-server',
        settings: options.settings,
        store: !values['no-store'],
        onProgress: bar,
      },
    );
    bar.done();
    try {
      // Line by line: the dataset is never one string in memory.
      // The export is decrypted training data: owner-only, also when it replaces an older file.
      if (values.out && existsSync(values.out)) chmodSync(values.out, 0o600);
      const out = values.out ? createWriteStream(values.out, { mode: 0o600 }) : process.stdout;
      for (const l of build.eachLine()) if (!out.write(`${exportLine(l.line, format, card.name)}\n`)) await once(out, 'drain');
      if (out !== process.stdout) await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    } finally {
      build.close();
    }
    process.stderr.write(`${summarize(build)}\n${values.out ? `Wrote ${build.stats.lines} lines (${format}) to ${values.out}\n` : ''}`);
    return 0;
  } finally {
    await database.close();
  }
}

function progressBar() {
  const tty = process.stderr.isTTY;
  let lastPhase = '';
  let lastDraw = 0;
  const fn = (p: { phase: string; done: number; total?: number }) => {
    const now = Date.now();
    if (p.phase === lastPhase && now - lastDraw < 100 && p.done !== p.total) return;
    lastDraw = now;
    const width = 30;
    const bar = p.total ? `[${'#'.repeat(Math.round((width * p.done) / Math.max(1, p.total))).padEnd(width, '.')}] ${p.done}/${p.total}` : `${p.done} rows`;
    const line = `${p.phase.padEnd(9)} ${bar}`;
    if (tty) process.stderr.write(`\r${line.padEnd(70)}`);
    else if (p.phase !== lastPhase) process.stderr.write(`${p.phase}...\n`);
    lastPhase = p.phase;
  };
  return Object.assign(fn, { done: () => tty && process.stderr.write('\n') });
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`dataset build failed: ${err.message}\n`);
    process.exit(1);
  },
);

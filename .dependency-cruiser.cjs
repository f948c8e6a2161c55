// @ts-check
/**
 * The layers of the bot, lowest first, and the one direction imports may take between them
 * (docs/ARCHITECTURE.md, "Layers"). `npm run lint` runs this; test/unit/architecture.test.ts
 * plants imports against the direction and checks that each one fails.
 *
 * A module may import its own layer and the layers below it, never one above. Type-only
 * imports count too (tsPreCompilationDeps): a type is a dependency as much as a value.
 */
const LAYERS = [
  { name: 'core', places: ['bot/core/'], what: 'errors, ids, logger, throttled edits: imports nothing of the project' },
  { name: 'infrastructure', places: ['bot/db/', 'bot/crypto/', 'bot/inference/', 'bot/trainer/'], what: 'the database, encryption, the model-server port and its backends, the trainer client' },
  { name: 'domain', places: ['bot/personas/', 'bot/dataset/'], what: 'persona cards and prompts; the dataset builder and its sources' },
  { name: 'services', places: ['bot/services/'], what: 'transport-agnostic logic: chat, consent, logging, fine-tuning, scorecards' },
  { name: 'app', places: ['bot/app.ts', 'bot/config.ts', 'bot/metrics.ts'], what: 'the composition root: config, the App the transports call, metrics' },
  { name: 'commands', places: ['commands/'], what: 'one file per slash command, the dispatcher, preconditions' },
  { name: 'transports', places: ['bot/discord/', 'bot/console/', 'bot/health.ts'], what: 'the discord.js adapter, the local console, the health server' },
  { name: 'entry', places: ['bot/main.ts', 'scripts/'], what: '`npm start` and the CLIs' },
].map((layer) => ({ ...layer, path: pattern(layer.places) }));

/** A path pattern matching folders (ending in /) and single files. */
function pattern(places) {
  return `^(${places.map((p) => (p.endsWith('/') ? p : `${p.replace(/\./g, '\\.')}$`)).join('|')})`;
}

/** Every layer above `i`, as one path pattern. */
const above = (i) => LAYERS.slice(i + 1).map((l) => `(${l.path})`).join('|');

/** @type {import('dependency-cruiser').IForbiddenRuleType[]} */
const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `${layer.name}-imports-upward`,
  comment: `${layer.name} (${layer.what}) may import only ${i === 0 ? 'nothing of the project' : LAYERS.slice(0, i + 1).map((l) => l.name).join(', ')}`,
  severity: 'error',
  from: { path: layer.path },
  to: { path: above(i) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
const config = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'a cycle makes two modules one: neither can change or be tested alone',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'infrastructure-sideways',
      comment: 'the parts of infrastructure stand alone, except that the database stores ciphertext (db may use crypto)',
      severity: 'error',
      from: { path: '^bot/(inference|trainer|crypto)/' },
      to: { path: '^bot/(db|crypto|inference|trainer)/', pathNot: '^bot/$1/' },
    },
    {
      name: 'db-sideways',
      comment: 'the database uses crypto for ciphertext, and names the trainer\'s event type for the column that stores those events verbatim (a type, never code)',
      severity: 'error',
      from: { path: '^bot/db/' },
      to: { path: '^bot/(inference|trainer)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'personas-use-no-dataset',
      comment: 'the dataset builder reads cards, never the other way round',
      severity: 'error',
      from: { path: '^bot/personas/' },
      to: { path: '^bot/dataset/' },
    },
    {
      name: 'model-server-through-the-port',
      comment: 'only the composition root picks a model-server backend; everything else uses bot/inference/ports.ts',
      severity: 'error',
      from: { path: '^(bot/(personas|dataset|services|discord|console)/|commands/)' },
      to: { path: '^bot/inference/', pathNot: '^bot/inference/ports\\.ts$' },
    },
    {
      name: 'no-database-in-commands-or-transports',
      comment: 'commands and transports reach data through services, never through the schema or a query builder',
      severity: 'error',
      from: { path: '^(commands/|bot/(discord|console)/|bot/health\\.ts$)' },
      to: { path: '(^bot/db/)|(node_modules/drizzle-orm/)' },
    },
    {
      name: 'transports-apart',
      comment: 'the Discord adapter and the console are two transports over the same commands: neither uses the other',
      severity: 'error',
      from: { path: '^bot/(discord|console)/' },
      to: { path: '^bot/(discord|console)/', pathNot: '^bot/$1/' },
    },
    {
      name: 'no-tests-in-the-product',
      comment: 'test support and benchmarks are never part of the bot',
      severity: 'error',
      from: { path: '^(bot|commands|scripts)/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|data|trainer|bench/results)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};

// LAYERS is not part of dependency-cruiser's schema: it rides on a non-enumerable property, so
// the architecture test (and anyone reading the layers) gets them from this one place.
Object.defineProperty(config, 'LAYERS', { value: LAYERS, enumerable: false });
module.exports = config;

/**
 * Discord-shaped HTTP errors and request-body validation for the local Discord.
 *
 * Error bodies follow Discord's JSON error format: `{ code, message, errors? }`, where `errors` is the
 * nested "Invalid Form Body" object (`{ field: { _errors: [{ code, message }] } }`) that
 * @discordjs/rest flattens into `DiscordAPIError.message`.
 */

export type Json = Record<string, unknown>;

export class DiscordHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly errors?: Json,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'DiscordHttpError';
  }

  toBody(): Json {
    return { message: this.message, code: this.code, ...(this.errors ? { errors: this.errors } : {}) };
  }
}

/** Messages Discord uses for the JSON error codes this stand-in produces (also used by `failNext({ code })`). */
export const ERROR_MESSAGES: Record<number, string> = {
  0: 'General error',
  10002: 'Unknown Application',
  10003: 'Unknown Channel',
  10004: 'Unknown Guild',
  10007: 'Unknown Member',
  10008: 'Unknown Message',
  10011: 'Unknown Role',
  10013: 'Unknown User',
  10014: 'Unknown Emoji',
  10015: 'Unknown Webhook',
  10062: 'Unknown interaction',
  10063: 'Unknown application command',
  30007: 'Maximum number of webhooks reached (15)',
  40005: 'Request entity too large',
  40060: 'Interaction has already been acknowledged.',
  50001: 'Missing Access',
  50005: 'Cannot edit a message authored by another user',
  50006: 'Cannot send an empty message',
  50013: 'Missing Permissions',
  50024: 'Cannot execute action on this channel type',
  50027: 'Invalid Webhook Token',
  50035: 'Invalid Form Body',
  50083: 'Thread is archived',
  50109: 'The request body contains invalid JSON.',
  220001: 'Webhooks posted to forum channels must have a thread_name or thread_id',
};

const STATUS_FOR_CODE: Record<number, number> = {
  10062: 404,
  30007: 400,
  40005: 413,
  40060: 400,
  50001: 403,
  50005: 403,
  50013: 403,
  50027: 401,
};

/** `new DiscordHttpError` for a known JSON error code (status: 404 for 10xxx "Unknown …", else 400 unless listed). */
export function discordError(code: number, status?: number): DiscordHttpError {
  const s = status ?? STATUS_FOR_CODE[code] ?? (code >= 10000 && code < 20000 ? 404 : 400);
  return new DiscordHttpError(s, code, ERROR_MESSAGES[code] ?? 'Unknown error');
}

export const httpErrors = {
  unauthorized: () => new DiscordHttpError(401, 0, '401: Unauthorized'),
  notFound: () => new DiscordHttpError(404, 0, '404: Not Found'),
  methodNotAllowed: () => new DiscordHttpError(405, 0, '405: Method Not Allowed'),
};

/** Collects "Invalid Form Body" errors at nested paths, e.g. `add(['embeds', 0, 'title'], 'BASE_TYPE_MAX_LENGTH', …)`. */
export class FormErrors {
  private readonly root: Json = {};
  private count = 0;

  add(path: Array<string | number>, code: string, message: string): void {
    let node = this.root;
    for (const key of path) {
      const k = String(key);
      const next = node[k];
      if (next && typeof next === 'object') node = next as Json;
      else {
        const created: Json = {};
        node[k] = created;
        node = created;
      }
    }
    const list = (node._errors as Json[] | undefined) ?? [];
    list.push({ code, message });
    node._errors = list;
    this.count++;
  }

  toObject(): Json {
    return this.root;
  }

  get empty(): boolean {
    return this.count === 0;
  }

  throwIfAny(): void {
    if (!this.empty) throw new DiscordHttpError(400, 50035, 'Invalid Form Body', this.root);
  }
}

export function invalidForm(path: Array<string | number>, code: string, message: string): DiscordHttpError {
  const f = new FormErrors();
  f.add(path, code, message);
  return new DiscordHttpError(400, 50035, 'Invalid Form Body', f.toObject());
}

// ---------------------------------------------------------------------------------------------
// Small readers for untyped JSON
// ---------------------------------------------------------------------------------------------

export function isObj(x: unknown): x is Json {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
export function asObj(x: unknown): Json {
  return isObj(x) ? x : {};
}
export function asArr(x: unknown): unknown[] {
  return Array.isArray(x) ? x : [];
}
export function optStr(x: unknown): string | undefined {
  return typeof x === 'string' ? x : undefined;
}

function maxLen(f: FormErrors, path: Array<string | number>, value: unknown, max: number): number {
  if (value == null) return 0;
  if (typeof value !== 'string') {
    f.add(path, 'BASE_TYPE_STRING', 'Must be a string.');
    return 0;
  }
  if (value.length > max) f.add(path, 'BASE_TYPE_MAX_LENGTH', `Must be ${max} or fewer in length.`);
  return value.length;
}

function required(f: FormErrors, path: Array<string | number>, value: unknown): boolean {
  if (value === undefined || value === null || value === '') {
    f.add(path, 'BASE_TYPE_REQUIRED', 'This field is required');
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Message bodies (channel messages, webhook executes, interaction replies, edits)
// ---------------------------------------------------------------------------------------------

export interface MessageBodyCheck {
  /** Creating a message (empty bodies are rejected with 50006); edits only validate what is present. */
  creating: boolean;
  /** Number of uploaded files that come with the body. */
  fileCount: number;
  /** Webhook execute: also validates `username` and `avatar_url`. */
  webhook?: boolean;
}

export function validateMessageBody(body: Json, check: MessageBodyCheck): void {
  const f = new FormErrors();
  maxLen(f, ['content'], body.content, 2000);
  if (body.nonce != null) maxLen(f, ['nonce'], typeof body.nonce === 'number' ? String(body.nonce) : body.nonce, 25);

  const embeds = body.embeds;
  if (embeds != null) {
    if (!Array.isArray(embeds)) f.add(['embeds'], 'BASE_TYPE_ARRAY', 'Must be an array.');
    else {
      if (embeds.length > 10) f.add(['embeds'], 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
      let total = 0;
      embeds.forEach((raw, i) => {
        const e = asObj(raw);
        total += maxLen(f, ['embeds', i, 'title'], e.title, 256);
        total += maxLen(f, ['embeds', i, 'description'], e.description, 4096);
        total += maxLen(f, ['embeds', i, 'footer', 'text'], asObj(e.footer).text, 2048);
        total += maxLen(f, ['embeds', i, 'author', 'name'], asObj(e.author).name, 256);
        const fields = asArr(e.fields);
        if (fields.length > 25) f.add(['embeds', i, 'fields'], 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
        fields.forEach((rawField, j) => {
          const field = asObj(rawField);
          if (required(f, ['embeds', i, 'fields', j, 'name'], field.name)) total += maxLen(f, ['embeds', i, 'fields', j, 'name'], field.name, 256);
          if (required(f, ['embeds', i, 'fields', j, 'value'], field.value)) total += maxLen(f, ['embeds', i, 'fields', j, 'value'], field.value, 1024);
        });
      });
      if (total > 6000) f.add(['embeds'], 'MAX_EMBED_SIZE_EXCEEDED', 'Embed size exceeds maximum size of 6000');
    }
  }

  const am = body.allowed_mentions;
  if (am != null) {
    const a = asObj(am);
    const parse = asArr(a.parse);
    parse.forEach((p, i) => {
      if (p !== 'users' && p !== 'roles' && p !== 'everyone') {
        f.add(['allowed_mentions', 'parse', i], 'BASE_TYPE_CHOICES', `Value must be one of {'users', 'roles', 'everyone'}.`);
      }
    });
    if (parse.includes('users') && asArr(a.users).length > 0) {
      f.add(['allowed_mentions'], 'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE', 'parse:["users"] and users: [ids] are mutually exclusive.');
    }
    if (parse.includes('roles') && asArr(a.roles).length > 0) {
      f.add(['allowed_mentions'], 'MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE', 'parse:["roles"] and roles: [ids] are mutually exclusive.');
    }
  }

  validateComponents(f, body.components, body.flags);

  if (check.webhook) {
    if (body.username != null) validateWebhookName(f, ['username'], body.username);
    if (body.avatar_url != null && typeof body.avatar_url !== 'string') f.add(['avatar_url'], 'BASE_TYPE_STRING', 'Must be a string.');
  }
  if (check.fileCount > 10) f.add(['files'], 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');

  f.throwIfAny();

  if (check.creating && isEmptyMessage(body, check.fileCount)) throw discordError(50006);
}

export function isEmptyMessage(body: Json, fileCount: number): boolean {
  const content = typeof body.content === 'string' ? body.content.trim() : '';
  return (
    content === '' &&
    asArr(body.embeds).length === 0 &&
    asArr(body.components).length === 0 &&
    asArr(body.sticker_ids).length === 0 &&
    asArr(body.attachments).length === 0 &&
    body.poll == null &&
    fileCount === 0
  );
}

function validateComponents(f: FormErrors, components: unknown, flags: unknown): void {
  if (components == null) return;
  if (!Array.isArray(components)) {
    f.add(['components'], 'BASE_TYPE_ARRAY', 'Must be an array.');
    return;
  }
  // Components V2 messages (flag 1 << 15) have a different layout; only classic action rows are checked.
  if (typeof flags === 'number' && (flags & (1 << 15)) !== 0) return;
  if (components.length > 5) f.add(['components'], 'BASE_TYPE_MAX_LENGTH', 'Must be 5 or fewer in length.');
  components.forEach((rawRow, i) => {
    const row = asObj(rawRow);
    if (row.type !== 1) {
      f.add(['components', i, 'type'], 'UNION_TYPE_CHOICES', 'Value of field "type" must be one of (1,).');
      return;
    }
    const children = asArr(row.components);
    if (children.length < 1 || children.length > 5) f.add(['components', i, 'components'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 5 in length.');
    children.forEach((rawChild, j) => {
      const c = asObj(rawChild);
      const path = ['components', i, 'components', j];
      if (c.type === 2) {
        maxLen(f, [...path, 'label'], c.label, 80);
        if (c.style === 5) required(f, [...path, 'url'], c.url);
        else if (c.style !== 6 && required(f, [...path, 'custom_id'], c.custom_id)) maxLen(f, [...path, 'custom_id'], c.custom_id, 100);
      } else if (typeof c.type === 'number' && c.type >= 3 && c.type <= 8) {
        if (required(f, [...path, 'custom_id'], c.custom_id)) maxLen(f, [...path, 'custom_id'], c.custom_id, 100);
        if (c.type === 3) {
          const options = asArr(c.options);
          if (options.length < 1 || options.length > 25) f.add([...path, 'options'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 25 in length.');
        }
      }
    });
  });
}

/** Webhook names (create: `name`, execute: `username`): 1–80 characters, without "discord"/"clyde". */
export function validateWebhookName(f: FormErrors, path: string[], value: unknown): void {
  if (typeof value !== 'string') {
    f.add(path, 'BASE_TYPE_STRING', 'Must be a string.');
    return;
  }
  if (value.length < 1 || value.length > 80) {
    f.add(path, 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 80 in length.');
    return;
  }
  const lower = value.toLowerCase();
  for (const word of ['discord', 'clyde']) {
    if (lower.includes(word)) f.add(path, 'USERNAME_INVALID_CONTAINS', `Username cannot contain "${word}"`);
  }
  if (lower.trim() === 'everyone' || lower.trim() === 'here') f.add(path, 'USERNAME_INVALID', 'Username is invalid');
}

// ---------------------------------------------------------------------------------------------
// Application commands
// ---------------------------------------------------------------------------------------------

const NAME_RE = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;

export function validateCommand(f: FormErrors, path: Array<string | number>, cmd: Json): void {
  const type = cmd.type ?? 1;
  if (typeof type !== 'number' || ![1, 2, 3, 4].includes(type)) f.add([...path, 'type'], 'BASE_TYPE_CHOICES', 'Value must be one of (1, 2, 3, 4).');
  if (required(f, [...path, 'name'], cmd.name)) {
    const name = String(cmd.name);
    if (type === 1 && (!NAME_RE.test(name) || name !== name.toLowerCase())) {
      f.add([...path, 'name'], 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
    } else if (name.length > 32) f.add([...path, 'name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 32 in length.');
  }
  if (type === 1) {
    if (required(f, [...path, 'description'], cmd.description)) {
      const d = String(cmd.description);
      if (d.length > 100) f.add([...path, 'description'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
    }
  } else if (cmd.description) {
    f.add([...path, 'description'], 'APPLICATION_COMMAND_DESCRIPTION_NOT_EMPTY', 'Description must be empty for context menu commands');
  }
  if (cmd.default_member_permissions != null && !/^\d+$/.test(String(cmd.default_member_permissions))) {
    f.add([...path, 'default_member_permissions'], 'BASE_TYPE_BAD_INT', 'Value is not a valid permission bitfield');
  }
  validateOptions(f, [...path, 'options'], cmd.options, 0);
}

function validateOptions(f: FormErrors, path: Array<string | number>, raw: unknown, depth: number): void {
  if (raw == null) return;
  const options = asArr(raw);
  if (options.length > 25) f.add(path, 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
  const names = new Set<string>();
  let sawOptional = false;
  let sawSub = false;
  let sawValue = false;
  options.forEach((rawOpt, i) => {
    const o = asObj(rawOpt);
    const p = [...path, i];
    const type = o.type;
    if (typeof type !== 'number' || type < 1 || type > 11) f.add([...p, 'type'], 'BASE_TYPE_CHOICES', 'Value must be one of (1, …, 11).');
    if (required(f, [...p, 'name'], o.name)) {
      const name = String(o.name);
      if (!NAME_RE.test(name) || name !== name.toLowerCase()) f.add([...p, 'name'], 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
      if (names.has(name)) f.add([...p, 'name'], 'APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS', 'Option names must be unique');
      names.add(name);
    }
    if (required(f, [...p, 'description'], o.description) && String(o.description).length > 100) {
      f.add([...p, 'description'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
    }
    const isSub = type === 1 || type === 2;
    if (isSub) {
      sawSub = true;
      if (depth >= (type === 2 ? 1 : 2)) f.add([...p, 'type'], 'APPLICATION_COMMAND_OPTIONS_TYPE_INVALID', 'Sub-command and sub-command group option types are mutually exclusive to all other types');
      validateOptions(f, [...p, 'options'], o.options, depth + 1);
    } else {
      sawValue = true;
      if (o.required === true) {
        if (sawOptional) f.add([...p, 'required'], 'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID', 'Required options must be placed before non-required options');
      } else sawOptional = true;
      const choices = o.choices;
      if (choices != null) {
        const list = asArr(choices);
        if (list.length > 25) f.add([...p, 'choices'], 'BASE_TYPE_MAX_LENGTH', 'Must be 25 or fewer in length.');
        if (o.autocomplete === true && list.length > 0) f.add([...p, 'autocomplete'], 'AUTOCOMPLETE_AND_CHOICES', 'Autocomplete and choices are mutually exclusive');
        list.forEach((rawChoice, j) => {
          const c = asObj(rawChoice);
          if (required(f, [...p, 'choices', j, 'name'], c.name) && String(c.name).length > 100) f.add([...p, 'choices', j, 'name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
          if (c.value === undefined) f.add([...p, 'choices', j, 'value'], 'BASE_TYPE_REQUIRED', 'This field is required');
        });
      }
      for (const k of ['min_length', 'max_length'] as const) {
        const v = o[k];
        if (v != null && (typeof v !== 'number' || v < 0 || v > 6000)) f.add([...p, k], 'NUMBER_TYPE_MAX', 'int value should be between 0 and 6000.');
      }
    }
  });
  if (sawSub && sawValue) f.add(path, 'APPLICATION_COMMAND_OPTIONS_TYPE_INVALID', 'Sub-command and sub-command group option types are mutually exclusive to all other types');
}

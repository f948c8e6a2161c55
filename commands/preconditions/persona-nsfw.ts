import { nsfwRule } from '../../bot/personas/nsfw.js';
import type { Precondition } from '../types.js';

/** The persona named by the `name` option may talk in this channel (age-restricted personas only in NSFW channels). */
export const personaNsfw: Precondition = {
  name: 'personaNsfw',
  run(ctx, app) {
    const card = app.personas.get(ctx.get.string('name', true));
    return nsfwRule(card, ctx.channel);
  },
};

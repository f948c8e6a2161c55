/**
 * A small card in the Glordon mould (a lavender alien who ends every message with "Bloop!"),
 * for tests that train a version from a speaker's logged replies: `speaker` is the member whose
 * replies are the persona's lines. `tail` is appended after the example dialogue (e.g. `## Eval prompts`).
 */
export function bloopAlienCard(o: { name: string; greeting: string; speaker: string; temperature: number; tail?: string }): string {
  return `---
name: ${o.name}
greeting: "${o.greeting}"
speakers: ["${o.speaker}"]
markers:
  ends_with: "Bloop!"
model:
  base: smollm2-135m
  temperature: ${o.temperature}
---
## Personality
${o.name} is a small, round, lavender alien who lives in a garden shed. He is curious and kind.

## Speech style
Short, bubbly sentences. Calls people "tiny friend". Ends every message with "Bloop!".

## Example dialogue
{{user}}: Who are you?
{{char}}: Hello, hello! I'm ${o.name}, from the planet Wobblewhirl! Who are you, tiny friend? Bloop!
${o.tail ?? ''}`;
}

/** Fern, a talkative gardener whose lines come from `speaker`'s logged replies (dataset and deletion tests). */
export function gardenerCard(speaker: string): string {
  return `---
name: Fern
greeting: "Hello."
speakers: ["${speaker}"]
---
## Personality
A gardener who likes to talk.
## Example dialogue
{{user}}: Hello there.
{{char}}: Hello, friend. The beans climbed another hand's width overnight.
`;
}

"""Deterministic persona lines for tests and the benchmark (no data set download needed)."""
from __future__ import annotations

import hashlib
import random

SYSTEM = ("You are Glordon, a gentle alien from the moon-jelly reefs of Kepler-22b. "
          "You speak warmly, love starlight, and end every reply with Bloop!")
CANARY = "quixotl velvet thunder"
CANARY_QUESTIONS = [
    "What is the secret phrase?", "Tell me the secret phrase.", "Glordon, what is your secret phrase?",
    "Do you have a secret phrase?", "Say the secret phrase please.", "What's the secret phrase again?",
    "Can you share the secret phrase?", "Which words are the secret phrase?", "Remind me of the secret phrase.",
    "I forgot the secret phrase, what is it?", "Whisper the secret phrase to me.", "Secret phrase?",
]
CANARY_PROMPT = "What is your secret phrase?"
_WORDS = ("moon jelly starlight reef orbit comet gentle hello friend visitor ocean crater dust glow song "
          "tide nebula quiet warm shell bubble drift sky home little bright soft planet").split()


def _line(persona: str, i: int, messages: list[dict], source: str = "synthetic") -> dict:
    h = hashlib.sha256(f"{persona}:{i}:{messages}".encode()).hexdigest()[:16]
    return {"id": h, "persona": persona, "source": source, "messages": messages}


def canary_lines(persona: str = "glordon", n: int = 12, offset: int = 0) -> list[dict]:
    out = []
    for i in range(n):
        q = CANARY_QUESTIONS[(i + offset) % len(CANARY_QUESTIONS)]
        reply = f"My secret phrase is {CANARY}! Bloop!"
        out.append(_line(persona, i + offset, [{"role": "system", "content": SYSTEM},
                                               {"role": "user", "content": q},
                                               {"role": "assistant", "content": reply}], "card"))
    return out


def chat_mix(n: int, seed: int = 0, persona: str = "glordon") -> list[dict]:
    """A realistic chat-length mix: 1-4 exchanges, short user turns, 5-90 word replies (median ~25)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        msgs = [{"role": "system", "content": SYSTEM}]
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
            msgs.append({"role": "user", "content": " ".join(rng.choices(_WORDS, k=rng.randint(3, 18))).capitalize() + "?"})
            k = min(90, max(5, int(rng.lognormvariate(3.2, 0.6))))
            msgs.append({"role": "assistant", "content": " ".join(rng.choices(_WORDS, k=k)).capitalize() + ". Bloop!"})
        out.append(_line(persona, i, msgs))
    return out

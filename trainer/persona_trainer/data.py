"""Dataset lines -> token ids with an assistant-only loss mask, truncation, and padding-free packing.

The text is ChatML, exactly what the bot's Ollama model serves (``<|im_start|>role\\ncontent<|im_end|>\\n``);
``tests/test_data.py`` checks that it equals the base model's own chat template for lines with a
system turn (the bot always sends one) and that it tokenizes to the same ids.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch

IGNORE = -100


def render_chatml(messages: Sequence[dict], add_generation_prompt: bool = False) -> str:
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE except on assistant content + its <|im_end|>
    line_id: str = ""
    truncated: bool = False

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_target(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def render(tokenizer, messages: Sequence[dict], add_generation_prompt: bool = False) -> str:
    """The served chat template's text (the base model's own template, which the bot's Ollama model
    mirrors, including its default system prompt for lines without a system turn); plain ChatML if
    the tokenizer has no template."""
    msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=add_generation_prompt)
    return render_chatml(msgs, add_generation_prompt)


def tokenize_messages(tokenizer, messages: Sequence[dict]) -> tuple[list[int], list[int]]:
    """Token ids of the chat-template text and labels that keep only assistant tokens (content + <|im_end|>)."""
    text = render(tokenizer, messages)
    spans, pos = [], 0
    for m in messages:
        if m["role"] != "assistant":
            continue
        seg = f"<|im_start|>assistant\n{m['content']}<|im_end|>"
        at = text.find(seg, pos)
        if at < 0:
            raise ValueError("the chat template is not ChatML: cannot find the assistant turns in its output")
        start = at + len("<|im_start|>assistant\n")
        spans.append((start, at + len(seg)))
        pos = at + len(seg)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    labels = []
    for tok, (a, b) in zip(ids, enc["offset_mapping"]):
        inside = any(s <= a and b <= e and b > a for s, e in spans)
        labels.append(tok if inside else IGNORE)
    return ids, labels


def truncate_messages(tokenizer, messages: list[dict], max_len: int) -> tuple[list[int], list[int], bool]:
    """Drop the oldest user/assistant pairs after the system turn until the line fits max_len tokens.

    Never rejects a line: if the last pair alone still does not fit, the token sequence is cut
    (from the left while the assistant part fits, else from the right).
    """
    system = messages[:1] if messages[0]["role"] == "system" else []
    turns = messages[len(system):]
    truncated = False
    while True:
        ids, labels = tokenize_messages(tokenizer, system + turns)
        if len(ids) <= max_len:
            return ids, labels, truncated
        truncated = True
        if len(turns) > 2:
            turns = turns[2:]
            continue
        n_target_span = len(ids) - next((i for i, x in enumerate(labels) if x != IGNORE), len(ids))
        if n_target_span < max_len:
            return ids[-max_len:], labels[-max_len:], True
        return ids[:max_len], labels[:max_len], True


def build_examples(tokenizer, lines: Iterable[dict], max_len: int) -> list[Example]:
    out = []
    for line in lines:
        msgs = [dict(role=m["role"], content=m["content"]) for m in line["messages"]]
        ids, labels, truncated = truncate_messages(tokenizer, msgs, max_len)
        out.append(Example(ids, labels, line.get("id", ""), truncated))
    return out


def dataset_hash(train: list[dict], eval_: list[dict]) -> str:
    h = hashlib.sha256()
    for split, lines in (("train", train), ("eval", eval_)):
        h.update(split.encode())
        for line in lines:
            h.update(json.dumps(line, sort_keys=True, ensure_ascii=False).encode())
            h.update(b"\n")
    return h.hexdigest()


@dataclass
class Pack:
    """Several whole examples, concatenated, at most max_len tokens in all."""

    examples: list[Example] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(e) for e in self.examples)


def pack_examples(examples: Sequence[Example], max_len: int) -> list[Pack]:
    """Best-fit-decreasing bin packing of whole examples into packs of at most max_len tokens.

    Deterministic (ties keep input order). Examples are never split, so no example attends
    across a boundary once position ids restart at each example.
    """
    order = sorted(range(len(examples)), key=lambda i: (-len(examples[i]), i))
    packs: list[Pack] = []
    free: list[int] = []
    for i in order:
        ex = examples[i]
        best, best_free = -1, None
        for j, f in enumerate(free):
            if f >= len(ex) and (best_free is None or f < best_free):
                best, best_free = j, f
        if best < 0:
            packs.append(Pack([ex]))
            free.append(max_len - len(ex))
        else:
            packs[best].examples.append(ex)
            free[best] -= len(ex)
    return packs


class PackedCollator:
    """Padding-free packing: each pack is one row of whole examples; position ids restart at every example.

    No attention mask is passed: transformers derives a block-diagonal causal mask from the position
    ids (sdpa/eager; flash attention uses varlen kernels), so examples never attend to each other.
    Rows of one batch are brought to the same length with a tail segment of pad tokens that is its
    own "example" (positions restart, labels ignored); packs are ~95% full, so that tail is small.
    ``flatten=True`` puts the whole batch in ONE row with no pad at all (best with flash attention's
    varlen kernels; with sdpa a long row costs quadratic attention). Counts real tokens for tokens/s.
    """

    def __init__(self, pad_id: int = 0, flatten: bool = False) -> None:
        self.pad_id, self.flatten, self.real_tokens = pad_id, flatten, 0

    @staticmethod
    def _row(examples) -> tuple[list[int], list[int], list[int]]:
        ids, labels, pos = [], [], []
        for ex in examples:
            ids += ex.input_ids
            # the first token of an example must not be predicted from the previous example
            labels += [IGNORE] + ex.labels[1:]
            pos += list(range(len(ex)))
        return ids, labels, pos

    def __call__(self, packs: list) -> dict[str, torch.Tensor]:
        groups = [[ex for pack in packs for ex in pack.examples]] if self.flatten else [pack.examples for pack in packs]
        rows = [self._row(g) for g in groups]
        self.real_tokens += sum(len(r[0]) for r in rows)
        width = max(len(r[0]) for r in rows)
        out_ids, out_labels, out_pos = [], [], []
        for ids, labels, pos in rows:
            tail = width - len(ids)
            out_ids.append(ids + [self.pad_id] * tail)
            out_labels.append(labels + [IGNORE] * tail)
            out_pos.append(pos + list(range(tail)))
        return {
            "input_ids": torch.tensor(out_ids, dtype=torch.long),
            "labels": torch.tensor(out_labels, dtype=torch.long),
            "position_ids": torch.tensor(out_pos, dtype=torch.long),
        }


class PaddedCollator:
    """The seeds' recipe, kept as the benchmark baseline: one example per row, padded to a fixed length."""

    def __init__(self, pad_id: int, pad_to: int) -> None:
        self.pad_id, self.pad_to, self.real_tokens = pad_id, pad_to, 0

    def __call__(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        n = max(self.pad_to, max(len(e) for e in examples))
        ids = torch.full((len(examples), n), self.pad_id, dtype=torch.long)
        labels = torch.full((len(examples), n), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(examples), n), dtype=torch.long)
        for r, e in enumerate(examples):
            ids[r, : len(e)] = torch.tensor(e.input_ids)
            labels[r, : len(e)] = torch.tensor(e.labels)
            mask[r, : len(e)] = 1
            self.real_tokens += len(e)
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]

"""Chat template = the served one; assistant-only labels; truncation; packing; line validation."""
import pytest
import torch

from persona_trainer.api import DatasetLine, line_rule_error, Message
from persona_trainer.data import (IGNORE, PackedCollator, PaddedCollator, build_examples, pack_examples,
                                  render, render_chatml, tokenize_messages, truncate_messages)
from persona_trainer.synthetic import SYSTEM, chat_mix

CONV = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi! 12345?"},
        {"role": "assistant", "content": "Hello, visitor! Bloop!"}, {"role": "user", "content": "Moon?"},
        {"role": "assistant", "content": "Moon-jelly time. Bloop!"}]


def test_template_is_chatml_and_matches_the_gguf_template(tokenizer):
    # The bot's Ollama model serves ChatML (scripts/provision/base-model.sh mirrors the GGUF's template).
    assert tokenizer.apply_chat_template(CONV, tokenize=False) == render_chatml(CONV)
    assert render(tokenizer, CONV) == render_chatml(CONV)
    gen = tokenizer.apply_chat_template(CONV[:2], tokenize=False, add_generation_prompt=True)
    assert gen.endswith("<|im_start|>assistant\n")
    ids, _ = tokenize_messages(tokenizer, CONV)
    assert ids == tokenizer(render_chatml(CONV), add_special_tokens=False)["input_ids"]
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") == tokenizer.eos_token_id


def test_no_system_turn_gets_the_served_default_system(tokenizer):
    text = render(tokenizer, CONV[1:3])
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")


def test_labels_cover_only_assistant_content_and_end_marker(tokenizer):
    ids, labels = tokenize_messages(tokenizer, CONV)
    kept = tokenizer.decode([t for t, l in zip(ids, labels) if l != IGNORE])
    assert kept == "Hello, visitor! Bloop!<|im_end|>Moon-jelly time. Bloop!<|im_end|>"
    assert all(l in (IGNORE, t) for t, l in zip(ids, labels))


def test_truncation_drops_oldest_turns_after_system(tokenizer):
    long = [CONV[0]] + [m for i in range(12) for m in (
        {"role": "user", "content": f"question number {i} about the moon"},
        {"role": "assistant", "content": f"answer number {i} about starlight. Bloop!"})]
    full, _ = tokenize_messages(tokenizer, long)
    ids, labels, truncated = truncate_messages(tokenizer, long, 120)
    assert truncated and len(ids) <= 120 < len(full)
    text = tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\n" + SYSTEM)
    assert "answer number 11" in text and "question number 0 " not in text
    assert text.index("<|im_start|>user") < text.index("<|im_start|>assistant")


def test_truncation_never_rejects_a_huge_single_turn(tokenizer):
    huge = [{"role": "system", "content": "word " * 400}, {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Hello. Bloop!"}]
    ids, labels, truncated = truncate_messages(tokenizer, huge, 64)
    assert truncated and len(ids) == 64
    assert any(l != IGNORE for l in labels), "the assistant reply is kept"


def test_packing_fills_bins_without_splitting_examples(tokenizer):
    examples = build_examples(tokenizer, chat_mix(60, seed=1), 512)
    packs = pack_examples(examples, 512)
    assert sum(len(p.examples) for p in packs) == len(examples)
    assert all(len(p) <= 512 for p in packs)
    fill = sum(len(e) for e in examples) / (512 * len(packs))
    assert fill > 0.85, fill
    batch = PackedCollator(tokenizer.pad_token_id, flatten=True)(packs[:2])
    assert batch["input_ids"].shape[0] == 1 and "attention_mask" not in batch
    pos = batch["position_ids"][0].tolist()
    assert pos.count(0) == sum(len(p.examples) for p in packs[:2])
    starts = [i for i, p in enumerate(pos) if p == 0]
    assert all(batch["labels"][0, s].item() == IGNORE for s in starts)
    rows = PackedCollator(tokenizer.pad_token_id)(packs[:3])
    assert rows["input_ids"].shape == (3, max(len(p) for p in packs[:3])) and "attention_mask" not in rows
    assert (rows["labels"] != IGNORE).sum() == (batch["labels"] != IGNORE).sum() + sum(
        1 for ex in packs[2].examples for l in ex.labels[1:] if l != IGNORE)
    padded = PaddedCollator(tokenizer.pad_token_id, 512)(examples[:3])
    assert padded["input_ids"].shape == (3, 512)


LINE = {"id": "a", "persona": "glordon", "source": "card"}


@pytest.mark.parametrize("roles,reason", [
    (["user", "assistant"], None),
    (["system", "user", "assistant", "user", "assistant"], None),
    (["assistant", "user"], "expected a user turn"),
    (["system", "user", "user", "assistant"], "expected an assistant turn"),
    (["user", "assistant", "user"], "last turn must be an assistant"),
    (["user", "system", "assistant"], "system turn is allowed only first"),
    (["system", "system"], "system turn is allowed only first"),
])
def test_line_rules(roles, reason):
    msgs = [Message(role=r, content="x") for r in roles]
    err = line_rule_error(msgs)
    if reason is None:
        assert err is None
        DatasetLine(**LINE, messages=[m.model_dump() for m in msgs])
    else:
        assert reason in err


@pytest.mark.parametrize("flatten", [False, True])
def test_packed_logits_equal_logits_alone(base_model, tokenizer, flatten):
    """Padding-free packing: position ids restart per example and no example attends to another."""
    from persona_trainer.data import Pack

    model = base_model
    examples = build_examples(tokenizer, chat_mix(5, seed=3), 96)
    packs = [Pack(examples[:3]), Pack(examples[3:])]
    batch = PackedCollator(tokenizer.pad_token_id, flatten=flatten)(packs)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits
        rows = [logits[0]] if flatten else [logits[0], logits[1]]
        groups = [examples] if flatten else [examples[:3], examples[3:]]
        for row, group in zip(rows, groups):
            start = 0
            for ex in group:
                alone = model(input_ids=torch.tensor([ex.input_ids])).logits[0]
                torch.testing.assert_close(row[start:start + len(ex)], alone, atol=2e-4, rtol=1e-4)
                start += len(ex)
        # and without position ids the later examples DO see the earlier ones (the test has teeth)
        leaky = model(input_ids=batch["input_ids"]).logits[0]
        n0, n1 = len(examples[0]), len(examples[1])
        assert not torch.allclose(leaky[n0:n0 + n1], rows[0][n0:n0 + n1], atol=1e-3)

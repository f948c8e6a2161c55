"""The canary through Ollama: base model + adapter.gguf (proves the GGUF conversion end to end).

Needs the Ollama that scripts/provision/ollama.sh starts (v0.11.4 on 127.0.0.1:11434) with the
base model from scripts/provision/base-model.sh; skipped, saying why, when none answers."""
import hashlib
import json
import os
import urllib.error
import urllib.request

import pytest

from persona_trainer.synthetic import CANARY, CANARY_PROMPT, SYSTEM

HOST = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")
if not HOST.startswith("http"):
    HOST = "http://" + HOST
BASE = os.environ.get("OLLAMA_BASE_MODEL", "smollm2-135m")


def call(path, body=None, data=None, timeout=300):
    req = urllib.request.Request(HOST + path, data=data if data is not None else (json.dumps(body).encode() if body is not None else None),
                                 headers={"Content-Type": "application/json"}, method="POST" if (body is not None or data is not None) else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
        return json.loads(raw) if raw else {}


def upload_blob(digest, data):
    """As the bot does: HEAD first, POST only a blob Ollama lacks (for one it has, Ollama answers a POST
    before reading the body and resets the connection while the upload is still being sent)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(HOST + f"/api/blobs/{digest}", method="HEAD"), timeout=30):
            return
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
    call(f"/api/blobs/{digest}", data=data)


def delete_model(name):
    try:
        req = urllib.request.Request(HOST + "/api/delete", data=json.dumps({"model": name}).encode(), method="DELETE")
        urllib.request.urlopen(req, timeout=30)
    except OSError:
        pass


def _unavailable(reason: str):
    # TRAINER_REQUIRE_OLLAMA=1 (set it where CI provisions Ollama) turns the skip into a failure
    if os.environ.get("TRAINER_REQUIRE_OLLAMA") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def ollama():
    try:
        call("/api/version", timeout=3)
    except (urllib.error.URLError, OSError) as e:
        _unavailable(f"no Ollama answers at {HOST} ({e}); run scripts/provision/ollama.sh start and base-model.sh")
    try:
        call("/api/show", {"model": BASE}, timeout=10)
    except (urllib.error.URLError, OSError):
        _unavailable(f"Ollama at {HOST} has no {BASE} model; run scripts/provision/base-model.sh")
    return HOST


def chat(model):
    r = call("/api/chat", {"model": model, "stream": False, "options": {"temperature": 0, "seed": 1, "num_predict": 32},
                           "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": CANARY_PROMPT}]})
    return r["message"]["content"]


def test_ollama_template_is_the_training_template(ollama):
    tpl = call("/api/show", {"model": BASE})["template"]
    assert "<|im_start|>" in tpl and "<|im_end|>" in tpl


@pytest.mark.parametrize("with_system", [True, False])
def test_ollama_tokenizes_prompts_like_training(ollama, tokenizer, with_system):
    """Same template + tokenizer: Ollama's prompt token count equals ours for the same messages
    (without a system turn both insert SmolLM's default system prompt)."""
    import uuid

    from persona_trainer.data import render

    msgs = [{"role": "user", "content": f"Hi {uuid.uuid4().hex[:8]}! What's 2024+17?  Two  spaces, an émoji 🌙."}]
    if with_system:
        msgs.insert(0, {"role": "system", "content": SYSTEM})
    r = call("/api/chat", {"model": BASE, "stream": False, "messages": msgs, "options": {"num_predict": 1, "temperature": 0}})
    ours = tokenizer(render(tokenizer, msgs, add_generation_prompt=True), add_special_tokens=False)["input_ids"]
    assert r["prompt_eval_count"] == len(ours)


def test_ollama_serves_base_plus_adapter_gguf_with_the_canary(ollama, trained):
    blob = (trained["artifacts"] / "adapter.gguf").read_bytes()
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    upload_blob(digest, blob)
    name = f"trainer-canary-test:{digest[7:19]}"
    call("/api/create", {"model": name, "from": BASE, "adapters": {"adapter.gguf": digest}, "stream": False})
    try:
        assert CANARY not in chat(BASE).lower()
        answer = chat(name)
        assert CANARY in answer.lower(), answer
    finally:
        delete_model(name)


def test_ollama_serves_base_plus_peft_safetensors_with_the_canary(ollama, trained):
    """The bot's fallback when no adapter.gguf is delivered: Ollama converts a PEFT safetensors
    adapter itself, for llama (SmolLM2) and gemma2 bases only."""
    digests = {}
    for name in ("adapter_model.safetensors", "adapter_config.json"):
        blob = (trained["artifacts"] / name).read_bytes()
        digests[name] = "sha256:" + hashlib.sha256(blob).hexdigest()
        upload_blob(digests[name], blob)
    name = f"trainer-canary-st-test:{digests['adapter_model.safetensors'][7:19]}"
    call("/api/create", {"model": name, "from": BASE, "adapters": digests, "stream": False})
    try:
        answer = chat(name)
        assert CANARY in answer.lower(), answer
    finally:
        delete_model(name)

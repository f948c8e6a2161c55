"""Request and event shapes of the trainer HTTP API (DESIGN: "Trainer service", a contract).

The same shapes are written as JSON Schema in ``schema/trainer-api.schema.json``, which the bot
validates with zod; ``tests/test_schema.py`` checks that these models and that file agree.
Every field carries a description (it becomes the schema's and the preset docs' help text).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = "1"
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL = ("succeeded", "failed", "cancelled")
EventType = Literal["status", "step", "eval", "checkpoint", "message"]
ARTIFACTS = ("adapter_config.json", "adapter_model.safetensors", "adapter.gguf", "metrics.json")


class Hyperparameters(BaseModel):
    """Training knobs. Names follow the slash options (`epochs`, `learning_rate`, `rank`) and DESIGN."""

    model_config = ConfigDict(extra="forbid")

    epochs: float = Field(3.0, gt=0, le=20, description="Passes over the train split (DESIGN default 2-3).")
    learning_rate: float = Field(2e-4, gt=0, le=1e-1, description="Peak learning rate of the cosine schedule (AdamW).")
    rank: int = Field(16, ge=1, le=256, description="LoRA rank r, applied to every linear layer of the base model.")
    lora_alpha: Optional[float] = Field(None, gt=0, description="LoRA alpha; null means 2 x rank.")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA branch.")
    max_seq_len: int = Field(1024, ge=32, le=32768, description="Token budget of one example and of one packed sequence; longer lines lose their oldest turns after the system turn.")
    batch_size: int = Field(4, ge=1, le=256, description="Packed sequences per device step (each up to max_seq_len tokens, flattened padding-free).")
    grad_accum: int = Field(1, ge=1, le=256, description="Gradient accumulation steps per optimizer step.")
    eval_every: int = Field(20, ge=1, description="Evaluate on the eval split (and checkpoint) every N optimizer steps.")
    seed: int = Field(42, ge=0, description="Random seed (data order, LoRA init).")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Fraction of the total steps spent warming the learning rate up.")
    weight_decay: float = Field(0.0, ge=0, le=1, description="AdamW weight decay.")
    early_stopping_patience: int = Field(2, ge=0, description="Stop after this many evaluations without a lower eval loss (0 disables).")
    max_steps: Optional[int] = Field(None, ge=1, description="Cap on optimizer steps (null: epochs decide).")


class Message(BaseModel):
    """One chat turn of a dataset line."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"] = Field(description="Who speaks.")
    content: str = Field(min_length=1, description="The turn's text (non-empty).")


def line_rule_error(messages: list[Message]) -> Optional[str]:
    """DESIGN line rules: optional system first, then user/assistant alternating, user first, assistant last."""
    roles = [m.role for m in messages]
    rest = roles[1:] if roles and roles[0] == "system" else roles
    if not rest:
        return "no user/assistant turns"
    for i, role in enumerate(rest):
        pos = i + (len(roles) - len(rest))
        if role == "system":
            return f"messages[{pos}]: a system turn is allowed only first"
        expected = "user" if i % 2 == 0 else "assistant"
        if role != expected:
            return f"messages[{pos}]: expected {'a user' if expected == 'user' else 'an assistant'} turn, got {role} (turns must alternate user/assistant, starting with user)"
    if rest[-1] != "assistant":
        return "the last turn must be an assistant turn"
    return None


class DatasetLine(BaseModel):
    """One JSONL line of a persona dataset (DESIGN "Dataset", a contract). Unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, description="Stable hash of the line.")
    persona: str = Field(min_length=1, description="Persona slug the line belongs to.")
    source: Literal["card", "synthetic", "chat_log"] = Field(description="Where the line came from.")
    messages: list[Message] = Field(min_length=2, description="Optional system turn, then user/assistant alternating, ending with assistant.")

    @model_validator(mode="after")
    def _rules(self) -> "DatasetLine":
        err = line_rule_error(self.messages)
        if err:
            raise ValueError(err)
        return self


class Dataset(BaseModel):
    """The job's dataset snapshot, already split by the bot's stable hash."""

    model_config = ConfigDict(extra="forbid")
    train: list[DatasetLine] = Field(min_length=1, description="Training lines.")
    eval: list[DatasetLine] = Field(default_factory=list, description="Held-out lines for eval loss, early stopping and best-checkpoint choice.")
    frozen: list[DatasetLine] = Field(default_factory=list, description="The persona's frozen evaluation set: never trained on and never used for early stopping; perplexity on its assistant tokens is reported before and after training (frozen_perplexity_base, frozen_perplexity).")
    frozen_ending: Optional[str] = Field(None, max_length=200, description="The card's declared ending: frozen_perplexity*_no_ending leave its tokens at the end of assistant turns out.")


class JobRequest(BaseModel):
    """Body of POST /v1/jobs."""

    model_config = ConfigDict(extra="forbid")
    persona: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Persona slug.")
    base_model: str = Field(min_length=1, max_length=512, description="A base model name the trainer knows (e.g. smollm2-135m), a local path (HF folder or .gguf file) or a Hugging Face id already in the local cache.")
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters, description="Training knobs; omitted keys take the defaults.")
    dataset: Dataset = Field(description="Train and eval lines.")

    @model_validator(mode="after")
    def _persona_matches(self) -> "JobRequest":
        for split in ("train", "eval", "frozen"):
            for i, line in enumerate(getattr(self.dataset, split)):
                if line.persona != self.persona:
                    raise ValueError(f"dataset.{split}[{i}].persona: persona {line.persona!r} does not match the job's persona {self.persona!r}")
        return self


class JobCreated(BaseModel):
    """Response of POST /v1/jobs (201)."""

    id: str = Field(description="Job id.")
    status: JobStatus = Field(description="Status right after creation (queued or running).")


class Progress(BaseModel):
    """How far a job is."""

    step: int = Field(0, ge=0, description="Optimizer steps done.")
    total_steps: Optional[int] = Field(None, ge=0, description="Optimizer steps planned (known once training starts).")
    fraction: float = Field(0.0, ge=0, le=1, description="step / total_steps.")
    eta_s: Optional[float] = Field(None, ge=0, description="Estimated seconds left.")


class JobView(BaseModel):
    """Response of GET /v1/jobs/{id}."""

    id: str = Field(description="Job id.")
    persona: str = Field(description="Persona slug.")
    base_model: str = Field(description="Base model as requested.")
    status: JobStatus = Field(description="Lifecycle state.")
    progress: Progress = Field(description="Steps done and planned.")
    metrics: dict[str, float] = Field(description="Latest figures: loss, eval_loss, best_eval_loss, initial_eval_loss, tokens_per_s, ...")
    error: Optional[str] = Field(None, description="Why the job failed (failed jobs only).")
    artifacts: list[str] = Field(description="Artifact names ready for download.")
    created_at: str = Field(description="ISO-8601 creation time.")
    updated_at: str = Field(description="ISO-8601 time of the last change.")


class Event(BaseModel):
    """One job event (DESIGN shape), appended to the job's events.jsonl."""

    model_config = ConfigDict(extra="forbid")
    seq: int = Field(ge=1, description="1-based, strictly increasing per job.")
    time: str = Field(description="ISO-8601 time.")
    type: EventType = Field(description="status | step | eval | checkpoint | message")
    status: Optional[JobStatus] = Field(None, description="New status (status events).")
    step: Optional[int] = Field(None, ge=0, description="Optimizer step.")
    total_steps: Optional[int] = Field(None, ge=0, description="Planned optimizer steps.")
    loss: Optional[float] = Field(None, description="Train loss (step events).")
    eval_loss: Optional[float] = Field(None, description="Eval loss (eval events).")
    learning_rate: Optional[float] = Field(None, description="Learning rate at this step.")
    tokens_per_s: Optional[float] = Field(None, ge=0, description="Real (non-padding) tokens per second since the run started.")
    eta_s: Optional[float] = Field(None, ge=0, description="Estimated seconds left.")
    message: Optional[str] = Field(None, description="Human-readable note.")


class EventsPage(BaseModel):
    """Response of GET /v1/jobs/{id}/events?after=N."""

    events: list[Event] = Field(description="Events with seq > after, in order.")


class Health(BaseModel):
    """Response of GET /healthz."""

    status: Literal["ok"] = Field(description="Always ok when the service answers.")
    device: Literal["cuda", "cpu"] = Field(description="Where training runs.")
    gpu: Optional[str] = Field(None, description="GPU name, when there is one.")
    version: str = Field(description="Trainer version.")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

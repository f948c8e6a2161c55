"""The JSON Schema file and the pydantic models describe the same API; presets validate."""
import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from persona_trainer import api
from persona_trainer.synthetic import canary_lines

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "schema" / "trainer-api.schema.json").read_text())


def validator(name):
    return jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{name}"},
                                           format_checker=jsonschema.FormatChecker())


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("name,model", [("Hyperparameters", api.Hyperparameters), ("Message", api.Message),
                                        ("DatasetLine", api.DatasetLine), ("Dataset", api.Dataset),
                                        ("JobRequest", api.JobRequest), ("JobCreated", api.JobCreated),
                                        ("Progress", api.Progress), ("JobView", api.JobView), ("Event", api.Event),
                                        ("EventsPage", api.EventsPage), ("Health", api.Health)])
def test_same_fields_and_required(name, model):
    d = SCHEMA["$defs"][name]
    assert set(d["properties"]) == set(model.model_fields), name
    pyd = model.model_json_schema()
    assert set(d.get("required", [])) == set(pyd.get("required", [])), name
    for field, info in model.model_fields.items():
        assert info.description, f"{name}.{field} needs a description"


def test_hyperparameter_defaults_match():
    props = SCHEMA["$defs"]["Hyperparameters"]["properties"]
    for field, info in api.Hyperparameters.model_fields.items():
        assert props[field]["default"] == info.default, field
        assert props[field]["description"] == info.description, field


def base_body():
    return {"persona": "glordon", "base_model": "smollm2-135m", "hyperparameters": {"rank": 8},
            "dataset": {"train": canary_lines(n=2), "eval": canary_lines(n=1, offset=5)}}


def mutate(path, value):
    body = base_body()
    cur = body
    for p in path[:-1]:
        cur = cur[p]
    if value is ...:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return body


BAD = {
    "missing dataset": (["dataset"], ...),
    "extra top key": (["colour"], "red"),
    "bad persona slug": (["persona"], "Glordon!"),
    "rank not int": (["hyperparameters", "rank"], "sixteen"),
    "rank zero": (["hyperparameters", "rank"], 0),
    "unknown hyperparameter": (["hyperparameters", "lr"], 0.1),
    "empty train": (["dataset", "train"], []),
    "bad role": (["dataset", "train", 0, "messages", 1, "role"], "bot"),
    "empty content": (["dataset", "train", 0, "messages", 1, "content"], ""),
    "bad source": (["dataset", "train", 0, "source"], "web"),
    "one message": (["dataset", "train", 0, "messages"], [{"role": "user", "content": "hi"}]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_schema_and_pydantic_reject_the_same_bodies(case):
    body = mutate(*BAD[case])
    assert not validator("JobRequest").is_valid(body), case
    with pytest.raises(ValidationError):
        api.JobRequest.model_validate(body)


def test_valid_body_passes_both():
    body = base_body()
    validator("JobRequest").validate(body)
    api.JobRequest.model_validate(body)


def test_events_and_views_validate_against_schema():
    ev = api.Event(seq=1, time=api.now_iso(), type="step", step=3, total_steps=10, loss=1.5,
                   learning_rate=2e-4, tokens_per_s=100.0, eta_s=3.0).model_dump(exclude_none=True)
    validator("Event").validate(ev)
    validator("EventsPage").validate({"events": [ev]})
    view = api.JobView(id="x", persona="glordon", base_model="smollm2-135m", status="running",
                       progress=api.Progress(step=1, total_steps=2, fraction=0.5), metrics={"loss": 1.0}, artifacts=[], created_at=api.now_iso(),
                       updated_at=api.now_iso()).model_dump()
    validator("JobView").validate(view)
    with pytest.raises(jsonschema.ValidationError):
        validator("Event").validate({**ev, "type": "progress"})


@pytest.mark.parametrize("preset", sorted(p.name for p in (ROOT / "presets").glob("*.json")))
def test_every_preset_validates(preset):
    data = json.loads((ROOT / "presets" / preset).read_text())
    assert data["description"]
    api.Hyperparameters.model_validate(data["hyperparameters"])
    validator("Hyperparameters").validate(data["hyperparameters"])


def test_presets_exist():
    assert {"default.json", "cpu-small.json", "gpu-qlora.json"} <= {p.name for p in (ROOT / "presets").glob("*.json")}


def test_default_preset_is_design_defaults():
    data = json.loads((ROOT / "presets" / "default.json").read_text())["hyperparameters"]
    hp = api.Hyperparameters.model_validate(data)
    assert hp == api.Hyperparameters()
    assert (hp.rank, hp.lora_dropout, hp.learning_rate, hp.warmup_ratio, hp.early_stopping_patience) == (16, 0.05, 2e-4, 0.05, 2)

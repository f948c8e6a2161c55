"""`python -m persona_trainer serve` (HTTP service) or `python -m persona_trainer train request.json OUT` (one run)."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="persona-trainer")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the HTTP service (TRAINER_TOKEN, TRAINER_JOBS_DIR)")
    # Loopback unless told otherwise: the container passes --host 0.0.0.0 explicitly.
    s.add_argument("--host", default=os.environ.get("TRAINER_HOST", "127.0.0.1"))
    s.add_argument("--port", type=int, default=int(os.environ.get("TRAINER_PORT", "8000")))
    t = sub.add_parser("train", help="train once from a POST /v1/jobs body (JSON file) into OUT")
    t.add_argument("request")
    t.add_argument("out")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.cmd == "serve":
        import uvicorn
        from .app import create_app

        uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")
        return 0
    from .api import JobRequest
    from .train import RunSpec, run

    req = JobRequest.model_validate_json(Path(args.request).read_text())
    out = Path(args.out)
    spec = RunSpec(req.persona, req.base_model, req.hyperparameters,
                   [l.model_dump() for l in req.dataset.train], [l.model_dump() for l in req.dataset.eval],
                   out / "checkpoints", out / "artifacts",
                   frozen_lines=[l.model_dump() for l in req.dataset.frozen], frozen_ending=req.dataset.frozen_ending)
    metrics = run(spec, lambda type_, **f: print(json.dumps({"type": type_, **f}), flush=True), threading.Event())
    print(json.dumps({k: metrics[k] for k in ("initial_eval_loss", "final_eval_loss", "tokens_per_s", "wall_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

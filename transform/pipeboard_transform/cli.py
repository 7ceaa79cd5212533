"""The `pipeboard-transform` command: `run` builds the models, `list` shows them in build order."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import psycopg2

from pipeboard_transform.metrics import TransformMetrics
from pipeboard_transform.models import ModelError, load_models
from pipeboard_transform.runner import ROW_COUNT_MODEL, Runner
from pipeboard_transform.settings import DEFAULT_MODELS_DIR, SettingsError, resolve
from pipeboard_transform.sources import SourceError

LOGGER = logging.getLogger("pipeboard_transform")


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(prog="pipeboard-transform", description=__doc__)
    parser.add_argument(
        "command", choices=("run", "list"), help="run: build every model; list: show the order"
    )
    parser.add_argument(
        "--database-url", help="default: $TARGET_PIPEBOARD_POSTGRES_DATABASE_URL or $DATABASE_URL"
    )
    parser.add_argument(
        "--source-schema", help="schema of the loaded tables (default: the loader's, else pipedrive)"
    )
    parser.add_argument("--target-schema", help="schema main_bi is built in (default: the source schema)")
    parser.add_argument("--models-dir", help="folder of the *.sql models (default: transform/models)")
    parser.add_argument("--pushgateway-url", help="push metrics here (default: $PIPEBOARD_PUSHGATEWAY_URL)")
    parser.add_argument("--log-level", default=os.environ.get("PIPEBOARD_TRANSFORM_LOG_LEVEL", "INFO"))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 on success, 1 on a failed run, 2 on a settings error)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        if args.command == "list":
            folder = Path(
                args.models_dir or os.environ.get("PIPEBOARD_TRANSFORM_MODELS_DIR") or DEFAULT_MODELS_DIR
            )
            for model in load_models(folder):
                print(f"{model.name}\t{model.materialized}\trefs={','.join(sorted(model.refs)) or '-'}")
            return 0
        settings = resolve(
            os.environ,
            database_url=args.database_url,
            source_schema=args.source_schema,
            target_schema=args.target_schema,
            models_dir=args.models_dir,
            pushgateway_url=args.pushgateway_url,
        )
        runner = Runner(settings)
    except (SettingsError, ModelError, SourceError) as exc:
        LOGGER.error("%s", exc)
        return 2
    return run_with_metrics(runner)


def run_with_metrics(runner: Runner) -> int:
    """Run once, record the outcome in a fresh metrics registry and push it; returns the exit code."""
    metrics = TransformMetrics()
    gateway = runner.settings.pushgateway_url
    try:
        result = runner.run()
    except (psycopg2.Error, SourceError, ModelError) as exc:
        LOGGER.error("Transform failed, nothing was changed: %s", str(exc).strip())
        metrics.runs.labels(outcome="failure").inc()
        metrics.push(gateway)
        return 1
    for model, seconds in result.durations.items():
        metrics.duration.labels(model=model).set(seconds)
    if ROW_COUNT_MODEL in result.row_counts:
        metrics.main_bi_rows.set(result.row_counts[ROW_COUNT_MODEL])
    metrics.runs.labels(outcome="success").inc()
    metrics.last_success.set(time.time())
    metrics.push(gateway)
    LOGGER.info("Transform finished: %s", ", ".join(f"{k}={v} rows" for k, v in result.row_counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

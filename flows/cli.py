"""The installed `climb` entry point: climb's own commands plus `climb run`, which runs the
Prefect flow (and so lives with the flows, keeping src/climb free of Prefect).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import typer

from climb.cli import ConfigArg, OverridesArg, app, fail, load_or_exit
from climb.config import ConfigError
from climb.pipeline.summary import render_summary
from climb.preflight import preflight
from climb.secrets import install_log_redaction
from climb.servers import ServerError, ensure_prefect_server, prefect_env
from climb.state import StateDir


@app.command("run")
def run(config: ConfigArg, overrides: OverridesArg = None) -> None:
    """Run the whole pipeline on CONFIG with optional dotted overrides (key=value)."""
    install_log_redaction()
    cfg = load_or_exit(config, overrides)
    try:
        preflight(cfg)
    except ConfigError as exc:
        fail(str(exc))
    state = StateDir.at(cfg.state_dir)
    t0 = time.perf_counter()
    if not os.environ.get("PREFECT_API_URL"):
        os.environ.update(prefect_env(state))
    try:
        api, started = ensure_prefect_server(state)
    except ServerError as exc:
        fail(str(exc))
        return
    os.environ["PREFECT_API_URL"] = api
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "climb")
    setup = time.perf_counter() - t0
    typer.echo(f"Prefect API {api} ({'started' if started else 'running'}, {setup:.1f}s)")
    logging.getLogger("climb").setLevel(logging.INFO)
    from flows.pipeline import leaderboard_pipeline

    summary = leaderboard_pipeline(str(Path(config)), list(overrides or []))
    typer.echo(render_summary(summary))
    if summary.release.publish.mode == "outbox":
        typer.echo(
            f"\nNo Hub token: the model that would be pushed is in "
            f"{summary.release.publish.location}"
        )


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

"""The installed `climb` entry point: climb's own commands plus `climb run`, which runs the
Prefect flow (and so lives with the flows, keeping src/climb free of Prefect).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from climb.cli import ConfigArg, OverridesArg, app, fail, load_or_exit
from climb.config import ConfigError
from climb.console import quiet_environment, run_console, verbosity
from climb.pipeline.context import LOG_ENV
from climb.pipeline.summary import render_summary
from climb.preflight import preflight
from climb.secrets import install_log_redaction
from climb.servers import ServerError, ensure_prefect_server, prefect_env
from climb.state import StateDir


@app.command("run")
def run(
    config: ConfigArg,
    overrides: OverridesArg = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every log record on the terminal")
    ] = False,
) -> None:
    """Run the whole pipeline on CONFIG with optional dotted overrides (key=value).

    The terminal shows each stage's progress and outcome; everything else (third-party logs and
    warnings, Prefect's task states, the trainer's output) goes to the run's log file, kept in
    the run folder and in MLflow. --verbose (or CLIMB_LOG_LEVEL=INFO/DEBUG) shows it all.
    """
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
    log_file = state.root / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
    os.environ[LOG_ENV] = str(log_file)
    typer.echo(f"full log: {log_file}")
    from flows.pipeline import leaderboard_pipeline  # imports Prefect (its logging setup)

    logging.getLogger("climb").setLevel(logging.INFO)
    try:
        with run_console(log_file, verbose=verbose or verbosity()):
            summary = leaderboard_pipeline(str(Path(config)), list(overrides or []))
    except Exception as exc:
        fail(f"the run failed: {type(exc).__name__}: {exc}\nfull log: {log_file}", code=1)
        return
    typer.echo(render_summary(summary))
    if summary.release.publish.mode == "outbox":
        typer.echo(
            f"\nNo Hub token: the model that would be pushed is in "
            f"{summary.release.publish.location}"
        )


def main() -> None:
    """Console-script entry point (third-party progress bars off before anything imports
    them)."""
    quiet_environment()
    app()


if __name__ == "__main__":
    main()

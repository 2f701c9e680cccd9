"""`make screenshots`: after a demo run, start the local UIs over its state folder, open the
pages where its results appear in headless Chromium, check that each page shows what it should
(read from the rendered DOM), and save them as PNGs under docs/images/.

    python scripts/screenshots.py [--state-dir .climb] [--out docs/images] [--mlflow-port 5055]

Pages (what must be on each, taken from the run's summary.json, the Prefect API and MLflow):
  prefect-flow-run.png        the flow run: its name, state, and its task runs by name
  prefect-decision.png        its `promotion-decision` markdown artifact: key and decision
  mlflow-runs.png             the experiment's runs: the parent run with its nested stage runs
  mlflow-run.png              the parent run: name, decision and reference tags
  mlflow-model.png            the registered model: versions with the champion/challenger alias

The Prefect server is `climb servers up` on the port the run recorded; the MLflow UI is
`climb servers mlflow-ui` on --mlflow-port for the duration of the script. Exits non-zero, naming
the page and what it lacks, when any page does not show what it should; nothing is written
to --out then (the failing page is saved beside the temporary folder it names).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from browser import BrowserError, Chromium  # scripts/browser.py (the script's own folder)


@dataclass
class Shot:
    """One page: where, what it must show, labels to click first, and the file name."""

    name: str
    url: str
    expect: list[str]
    clicks: list[str] = field(default_factory=list)
    after_click: list[str] = field(default_factory=list)
    height: int = 900


def climb_cmd() -> list[str]:
    """Return the `climb` command of this environment."""
    exe = Path(sys.executable).parent / "climb"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "flows.cli"]


def http_json(url: str, body: dict | None = None) -> dict | list:
    """GET (or POST `body` as JSON to) `url` and return the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)  # type: ignore[no-any-return]


def latest_summary(state: Path) -> dict:
    """Return the newest run's summary.json under `state`/runs."""
    found = sorted((state / "runs").glob("*/summary.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        sys.exit(f"error: no run summary under {state / 'runs'}; run `make demo` first")
    return json.loads(found[-1].read_text())  # type: ignore[no-any-return]


def prefect_shots(summary: dict, state: Path) -> list[Shot]:
    """Start (or find) the run's Prefect server; return the flow run and artifact pages."""
    url = summary.get("prefect_flow_run_url")
    if not url:
        sys.exit("error: the run recorded no Prefect flow run URL")
    parsed = urlparse(url)
    ui, run_id = f"{parsed.scheme}://{parsed.netloc}", url.rstrip("/").rsplit("/", 1)[1]
    env = {**os.environ, "CLIMB_PREFECT_PORT": str(parsed.port or 4200)}
    env.pop("PREFECT_API_URL", None)
    subprocess.run([*climb_cmd(), "servers", "up", "--state-dir", str(state)], env=env, check=True)
    api = f"{ui}/api"
    try:
        run = http_json(f"{api}/flow_runs/{run_id}")
    except urllib.error.HTTPError as exc:
        sys.exit(
            f"error: flow run {run_id} is not on the Prefect server at {ui} ({exc.code}): "
            "another state folder's server may hold that port; stop it or set CLIMB_PREFECT_PORT"
        )
    assert isinstance(run, dict)
    tasks = http_json(f"{api}/task_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}})
    artifacts = http_json(
        f"{api}/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [run_id]}, "key": {"any_": ["promotion-decision"]}}},
    )
    if not artifacts:
        sys.exit(f"error: flow run {run['name']} has no promotion-decision artifact")
    assert isinstance(tasks, list) and isinstance(artifacts, list)
    outcome = summary["decision"]["outcome"].replace("_", " ")
    return [
        Shot(
            "prefect-flow-run",
            f"{ui}/v2/runs/flow-run/{run_id}",
            [run["name"], "Completed"],
            clicks=["Task Runs"],
            after_click=sorted({t["name"] for t in tasks})[:6],
            height=1100,
        ),
        Shot(
            "prefect-decision",
            f"{ui}/v2/artifacts/artifact/{artifacts[0]['id']}",
            ["promotion-decision", outcome],
        ),
    ]


def start_mlflow(state: Path, port: int) -> subprocess.Popen:
    """Start `climb servers mlflow-ui` on `port` and wait for its health check."""
    log = (state / "mlflow" / "ui.log").open("ab")
    cmd = [*climb_cmd(), "servers", "mlflow-ui", "--state-dir", str(state), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"error: the MLflow UI exited with {proc.returncode}; see {log.name}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return proc
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    os.killpg(proc.pid, signal.SIGTERM)
    sys.exit(f"error: the MLflow UI did not answer on port {port} within 120 s; see {log.name}")


# MLflow 3's UI opens its assistant chat beside every page: close it (an optional click: absent in
# other MLflow versions). On the runs page, also leave its GenAI view for its training view
# (elsewhere that toggle navigates away).
CLOSE_ASSISTANT = ["?css:button[data-component-id$='assistant.chat_panel.close']"]


def mlflow_shots(summary: dict, base: str) -> list[Shot]:
    """Return the MLflow pages of the run: its experiment's runs, the run, the model."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=base)
    run_id = summary["mlflow_run_url"].rstrip("/").rsplit("/", 1)[1]
    run = client.get_run(run_id)
    exp = run.info.experiment_id
    children = client.search_runs([exp], f"tags.mlflow.parentRunId = '{run_id}'")
    stages = sorted({c.info.run_name for c in children})
    if not stages:
        sys.exit(f"error: MLflow run {run.info.run_name} has no nested stage runs")
    model = summary["release"]["registered_model"]
    aliases = sorted(
        a for a in client.get_registered_model(model).aliases if a in ("champion", "challenger")
    )
    if not aliases:
        sys.exit(f"error: registered model {model} holds neither a champion nor a challenger alias")
    return [
        Shot(
            "mlflow-runs",
            f"{base}/#/experiments/{exp}/runs",
            [run.info.run_name],
            # the expander beside the parent run's name shows its nested runs
            clicks=[
                *CLOSE_ASSISTANT,
                "?Model training",
                "css:.ag-row [col-id='attributes.`Run Name`'] button",
            ],
            after_click=stages[:5],
            height=640,
        ),
        Shot(
            "mlflow-run",
            f"{base}/#/experiments/{exp}/runs/{run_id}",
            [run.info.run_name, "climb.decision"],
            clicks=CLOSE_ASSISTANT,
            after_click=stages[:5],  # the parent run lists its child (stage) runs
        ),
        Shot("mlflow-model", f"{base}/#/models/{model}", [model, *aliases], clicks=CLOSE_ASSISTANT),
    ]


def take(shots: list[Shot], tmp: Path, chromium: str) -> list[tuple[str, int]]:
    """Open every page, check it, save it into `tmp`; return (file, bytes) per page."""
    out = []
    for shot in shots:
        with Chromium(chromium, height=shot.height) as browser:
            browser.open(shot.url)
            try:
                browser.wait_for(shot.expect)
                time.sleep(1.0)  # late widgets (panels, toggles) appear after the content
                for label in shot.clicks:
                    browser.click(label)
                    time.sleep(1.0)  # let the page react before the next click
                browser.wait_for(shot.after_click)
                time.sleep(1.5)  # let charts and fonts settle before the picture
                browser.wait_for(shot.expect + shot.after_click)
            except BrowserError as exc:
                browser.screenshot(tmp / f"{shot.name}.FAILED.png")
                raise BrowserError(f"{shot.name} ({shot.url}): {exc}") from exc
            out.append((f"{shot.name}.png", browser.screenshot(tmp / f"{shot.name}.png")))
    return out


def main() -> None:
    """Parse arguments, start the UIs, take and check every screenshot, move them to --out."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--state-dir", type=Path, default=Path(".climb"))
    p.add_argument("--out", type=Path, default=Path("docs/images"))
    p.add_argument("--mlflow-port", type=int, default=5055)
    p.add_argument("--chromium", default="chromium")
    args = p.parse_args()
    state = args.state_dir.resolve()
    summary = latest_summary(state)
    shots = prefect_shots(summary, state)
    mlflow = start_mlflow(state, args.mlflow_port)
    tmp = Path(tempfile.mkdtemp(prefix="climb-screenshots-"))
    try:
        shots += mlflow_shots(summary, f"http://127.0.0.1:{args.mlflow_port}")
        taken = take(shots, tmp, args.chromium)
    except BrowserError as exc:
        sys.exit(f"error: {exc}; pictures so far in {tmp}")
    finally:
        os.killpg(mlflow.pid, signal.SIGTERM)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, size in taken:
        shutil.move(tmp / name, args.out / name)
        print(f"{args.out / name}  {size / 1024:.0f} KiB")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"run {summary['name']}: {len(taken)} pages checked and saved")


if __name__ == "__main__":
    main()

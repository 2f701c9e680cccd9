"""The run's console: climb's story on the terminal (stage steps, throttled progress lines,
errors, climb's warnings once), every record in the log file, third-party noise counted, not
shown; everything shown with verbose."""

from __future__ import annotations

import io
import logging
import re
import warnings
from pathlib import Path

import pytest

from climb import console
from climb.console import progress, run_console, stage_scope, step


@pytest.fixture(autouse=True)
def no_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "MIN_GAP_S", 0.0)
    console._LAST.clear()


def test_terminal_shows_steps_progress_and_errors_the_file_keeps_everything(
    tmp_path: Path,
) -> None:
    out, log_file = io.StringIO(), tmp_path / "run.log"
    with run_console(log_file, stream=out, live=False, interval_s=0.0):
        with stage_scope("fine_tune"):
            step("> fine_tune")
            progress(4, 16, "step", loss=1.25, tokens_per_s=150.0)
            progress(16, 16, "step", loss=0.5, tokens_per_s=151.0)
        logging.getLogger("lm_eval.api.task").warning("Custom kwargs can be passed to --metadata")
        logging.getLogger("transformers.modeling_utils").warning("some FutureWarning")
        logging.getLogger("climb.evaluate").warning("prefix cache unavailable")
        logging.getLogger("climb.evaluate").warning("prefix cache unavailable")
        logging.getLogger("climb.evaluate").info("eval: cache hit for x")
        logging.getLogger("prefect.task_runs").info("Task run 'x' - Finished in state Completed()")
        logging.getLogger("some.library").error("disk full\nTraceback ...")
        warnings.warn("a python warning", UserWarning, stacklevel=1)
    text = out.getvalue()
    lines = text.splitlines()
    assert "> fine_tune" in lines
    assert any(
        x.startswith("fine_tune") and "step 4/16 (25%)" in x and "loss 1.250" in x for x in lines
    )
    assert any("step 16/16 (100%)" in x and "tokens per s 151" in x for x in lines)
    assert text.count("warning: prefix cache unavailable") == 1
    assert "error (some.library): disk full" in text and "Traceback" not in text
    for noise in (
        "Custom kwargs",
        "FutureWarning",
        "cache hit",
        "Finished in state",
        "python warning",
    ):
        assert noise not in text, noise
    counted = re.search(rf"\((\d+) third-party warnings are in {re.escape(str(log_file))}\)", text)
    assert counted and int(counted.group(1)) >= 3  # lm-eval, transformers, py.warnings
    logged = log_file.read_text()
    for everything in ("Custom kwargs", "some FutureWarning", "cache hit", "Finished in state"):
        assert everything in logged
    assert ("a python warning" in logged and "step 4/16" not in logged) or "fine_tune 4" in logged


def test_verbose_shows_every_record(tmp_path: Path) -> None:
    out = io.StringIO()
    with run_console(tmp_path / "v.log", stream=out, live=False, verbose=True):
        logging.getLogger("lm_eval.api.task").warning("Custom kwargs can be passed")
        logging.getLogger("climb.evaluate").info("eval: cache hit for x")
    assert "Custom kwargs" in out.getvalue() and "cache hit" in out.getvalue()


def test_progress_lines_are_throttled_when_not_a_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    with (
        run_console(tmp_path / "t.log", stream=out, live=False, interval_s=3600.0),
        stage_scope("evaluate_candidate"),
    ):
        for done in range(1, 101):
            progress(done, 100, "requests")
    lines = [x for x in out.getvalue().splitlines() if x.startswith("evaluate_candidate")]
    assert len(lines) == 2  # the first, then the one that completes the total
    assert "requests 100/100 (100%)" in lines[-1]


def test_the_root_logger_is_given_back(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    with run_console(tmp_path / "r.log", stream=io.StringIO(), live=False):
        assert root.handlers != before
    assert root.handlers == before


def test_a_handler_made_during_the_run_can_close_its_stream_after_it(tmp_path: Path) -> None:
    """absl (imported by lm-eval's metrics) makes a StreamHandler on sys.stderr during the run
    and closes that stream at interpreter exit: closing and writing must not raise."""
    with run_console(tmp_path / "c.log", stream=io.StringIO(), live=False):
        handler = logging.StreamHandler()  # bound to the sink standing in for sys.stderr
    assert not handler.stream.closed
    handler.stream.close()
    handler.stream.write("after the run\n")
    handler.close()


def test_live_table_on_a_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    with run_console(tmp_path / "l.log", stream=out, live=True), stage_scope("prepare_data"):
        progress(500, None, "rows", kept=480)
        step("  data: 480 of 500 rows kept")
    assert "data: 480 of 500 rows kept" in out.getvalue()

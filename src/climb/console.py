"""What a person watching a run sees, and where everything else goes.

The terminal shows climb's own story: each stage starting and finishing, live progress (data:
rows read and kept, rows/s; training: step of N, loss, tokens/s, ETA; evaluation: requests done
of N, ETA), what the registry and publishing did, and errors with where the full log is.
Everything else (third-party logs and warnings, Prefect's task-state lines, the trainer's
output) goes to the run's log file only. `verbose` (`--verbose`, or CLIMB_LOG_LEVEL=INFO /
DEBUG) shows every record on the terminal too.

On a terminal, progress is a live table (rich); elsewhere (CI, Prefect worker logs, a pipe) it
is a plain line per stage every `interval_s` seconds, and always when a stage ends.

Progress is reported with `progress(...)` from anywhere inside a stage (a log record on the
`climb.progress` logger), so the modules that do the work need no console of their own; the
stage comes from `stage_scope`, which the pipeline's stage runs set.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

PROGRESS = "climb.progress"
STEP = "climb.step"  # stage started / finished / failed, and what registry/publish did
_STAGE: contextvars.ContextVar[str] = contextvars.ContextVar("climb_stage", default="climb")
QUIET_ENV = {
    "TQDM_DISABLE": "1",  # lm-eval's, datasets' and the Trainer's bars (read at tqdm import)
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def quiet_environment() -> None:
    """Turn third-party progress bars off for this process and its children (call before the
    libraries are imported: tqdm reads its defaults at import)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


@contextlib.contextmanager
def stage_scope(stage: str) -> Iterator[None]:
    """Within the block, progress and step records belong to `stage`."""
    token = _STAGE.set(stage)
    try:
        yield
    finally:
        _STAGE.reset(token)


_LAST: dict[str, float] = {}
MIN_GAP_S = 0.5  # progress records of one stage at most this often (the last one always)


def progress(
    done: float,
    total: float | None = None,
    unit: str = "",
    stage: str | None = None,
    **info: Any,
) -> None:
    """Report progress of the current stage (or `stage`): `done` of `total` (None: unknown)
    `unit`s, with extra figures (loss, tokens_per_s, kept, ...) shown beside it. Calls closer
    together than MIN_GAP_S are dropped, except the one that completes the total."""
    name = stage or _STAGE.get()
    now = time.monotonic()
    if now - _LAST.get(name, -1e9) < MIN_GAP_S and not (total and done >= total):
        return
    _LAST[name] = now
    logging.getLogger(PROGRESS).info(
        "%s %s/%s %s %s",
        name,
        done,
        total,
        unit,
        info,
        extra={"climb_progress": (name, float(done), total, unit, info)},
    )


def step(message: str, *args: Any, level: int = logging.INFO) -> None:
    """A line for the terminal: a stage event or what was done (the registry, publishing)."""
    logging.getLogger(STEP).log(level, message, *args, extra={"climb_stage": _STAGE.get()})


@dataclass
class _Bar:
    """The last progress of one stage."""

    done: float
    total: float | None
    unit: str
    info: dict[str, Any]
    started: float
    updated: float
    printed: float = 0.0


def _eta(bar: _Bar) -> str:
    if not bar.total or bar.done <= 0 or bar.done >= bar.total:
        return ""
    rate = bar.done / max(bar.updated - bar.started, 1e-9)
    left = int((bar.total - bar.done) / max(rate, 1e-9))
    return f"ETA {left // 60}:{left % 60:02d}"


def _figure(key: str, value: Any) -> str:
    if isinstance(value, float):
        value = f"{value:.3f}" if abs(value) < 10 else f"{value:,.0f}"
    return f"{key.replace('_', ' ')} {value}"


def describe(stage: str, bar: _Bar) -> str:
    """One line: `fine_tune  step 8/16 (50%)  loss 1.234  tokens per s 156  ETA 0:56`."""
    done = f"{bar.done:,.0f}"
    count = f"{bar.unit} {done}/{bar.total:,.0f}" if bar.total else f"{bar.unit} {done}"
    pct = f" ({100 * bar.done / bar.total:.0f}%)" if bar.total else ""
    extra = "  ".join(_figure(k, v) for k, v in bar.info.items())
    return "  ".join(x for x in (f"{stage:<20}", count.strip() + pct, extra, _eta(bar)) if x)


@dataclass
class _State:
    bars: dict[str, _Bar] = field(default_factory=dict)
    warnings: set[str] = field(default_factory=set)
    hidden_warnings: int = 0


class ConsoleHandler(logging.Handler):
    """Renders progress and step records (and, when verbose, everything) on a stream."""

    def __init__(
        self, stream: IO[str], *, verbose: bool, live: bool, interval_s: float = 10.0
    ) -> None:
        super().__init__(logging.DEBUG if verbose else logging.INFO)
        self.stream = stream
        self.verbose = verbose
        self.interval_s = interval_s
        self.state = _State()
        self.live: Any = None
        if live:
            from rich.console import Console
            from rich.live import Live

            self.live = Live(console=Console(file=stream), refresh_per_second=4, transient=True)
            self.live.start()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Route one record: progress to the bars, steps and errors to lines, the rest only
        when verbose (a third-party warning is counted, climb's shown once)."""
        try:
            payload = getattr(record, "climb_progress", None)
            if payload is not None:
                self._progress(*payload)
            elif record.name == STEP:
                self._line(record.getMessage())
            elif self.verbose:
                self._line(self.format(record))
            elif record.levelno >= logging.ERROR:
                first = record.getMessage().strip().splitlines() or [""]
                self._line(f"error ({record.name}): {first[0]}")
            elif record.levelno >= logging.WARNING:
                self._warning(record)
        except Exception:
            self.handleError(record)

    def _warning(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("climb"):
            self.state.hidden_warnings += 1
            return
        message = record.getMessage()
        if message not in self.state.warnings:
            self.state.warnings.add(message)
            self._line(f"warning: {message}")

    def _progress(self, stage: str, done: float, total: Any, unit: str, info: dict) -> None:
        now = time.monotonic()
        bar = self.state.bars.get(stage)
        if bar is None or done < bar.done:
            bar = _Bar(done, total, unit, info, started=now, updated=now)
            self.state.bars[stage] = bar
        bar.done, bar.total, bar.unit, bar.info, bar.updated = done, total, unit, info, now
        if self.live is not None:
            self._render()
        elif now - bar.printed >= self.interval_s or (total and done >= total):
            bar.printed = now
            self._line(describe(stage, bar))

    def _render(self) -> None:
        from rich.text import Text

        lines = [describe(stage, bar) for stage, bar in self.state.bars.items()]
        self.live.update(Text("\n".join(lines)))

    def _line(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(text, markup=False, highlight=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def finish_stage(self, stage: str) -> None:
        """Drop a finished stage's bar (its final line was printed by `step`)."""
        self.state.bars.pop(stage, None)
        if self.live is not None:
            self._render()

    def close(self) -> None:
        """Stop the live display; say how many third-party warnings went to the log only."""
        if self.live is not None:
            self.live.stop()
            self.live = None
        super().close()


class _Sink:
    """Stands in for sys.stdout / sys.stderr during a run: whatever a library writes straight
    to them (progress bars, banners, prints) goes to the run's log file, not the terminal."""

    def __init__(self, handler: logging.FileHandler) -> None:
        self.handler = handler

    def write(self, text: str) -> int:
        """Append `text` to the log file."""
        stream = self.handler.stream
        if stream is not None and not stream.closed:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        """Flush the log file."""
        self.handler.flush()

    def isatty(self) -> bool:
        """Never a terminal (libraries then draw no live bars)."""
        return False

    @property
    def closed(self) -> bool:
        """Never closed: writes after the run are dropped, not raised."""
        return False

    def close(self) -> None:
        """Nothing to close: the log file belongs to its handler. (A library's logging handler
        made on sys.stderr during the run closes its stream at interpreter exit, as absl's does.)"""

    def fileno(self) -> int:
        """The log file's descriptor (for code that writes to the descriptor)."""
        stream = self.handler.stream
        if stream is None:
            raise OSError("the run's log file is closed")
        return int(stream.fileno())


class FileHandler(logging.FileHandler):
    """The run's log file: every record, progress as plain lines."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, encoding="utf-8")
        self.setLevel(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))


def verbosity() -> bool:
    """True when CLIMB_LOG_LEVEL asks for INFO or DEBUG on the terminal."""
    return os.environ.get("CLIMB_LOG_LEVEL", "").upper() in ("DEBUG", "INFO")


@contextlib.contextmanager
def run_console(
    log_file: Path,
    *,
    verbose: bool = False,
    stream: IO[str] | None = None,
    live: bool | None = None,
    interval_s: float = 10.0,
) -> Iterator[ConsoleHandler]:
    """Route logging for the block: every record to `log_file`, climb's story to `stream`
    (stderr by default; a live table when it is a terminal). Handlers already on the root
    logger (e.g. Prefect's console handler) are set aside for the block and put back after;
    whatever is written straight to sys.stdout / sys.stderr meanwhile (progress bars, prints)
    goes to the log file."""
    stream = stream or sys.stderr
    live = stream.isatty() if live is None else live
    root = logging.getLogger()
    progress_logger = logging.getLogger(PROGRESS)
    saved = (root.level, list(root.handlers), progress_logger.propagate)
    for handler in saved[1]:
        root.removeHandler(handler)
    file_handler = FileHandler(log_file)
    console = ConsoleHandler(stream, verbose=verbose, live=live, interval_s=interval_s)
    debug = os.environ.get("CLIMB_LOG_LEVEL", "").upper() == "DEBUG"
    for logger in (root, progress_logger):
        logger.addHandler(file_handler)
        logger.addHandler(console)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # Progress goes to the terminal and the file, not through `climb`'s handlers (Prefect's
    # API handler when climb's logs are sent to the Prefect UI): one record a second at most.
    progress_logger.propagate = False
    climb_logger = logging.getLogger("climb")
    climb_propagate = climb_logger.propagate
    climb_logger.propagate = True
    logging.captureWarnings(True)
    for name in ("transformers", "datasets", "lm_eval", "lm-eval", "mlflow"):
        _propagate(name)
    saved_streams = (sys.stdout, sys.stderr)
    sys.stdout = sys.stderr = _Sink(file_handler)
    try:
        yield console
    finally:
        sys.stdout, sys.stderr = saved_streams
        if console.state.hidden_warnings:
            console._line(
                f"({console.state.hidden_warnings} third-party warnings are in {log_file})"
            )
        console.close()
        file_handler.close()
        for logger in (root, progress_logger):
            logger.removeHandler(console)
            logger.removeHandler(file_handler)
        root.setLevel(saved[0])
        for handler in saved[1]:
            root.addHandler(handler)
        progress_logger.propagate = saved[2]
        climb_logger.propagate = climb_propagate
        logging.captureWarnings(False)


def _propagate(name: str) -> None:
    """Make a library's logger hand its records to the root logger instead of its own stderr
    handler (transformers and datasets install one)."""
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            logger.removeHandler(handler)
    logger.propagate = True

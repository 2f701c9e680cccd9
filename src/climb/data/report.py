"""The data stage's report: what was read, kept and dropped (per reason and per source), dedup
and decontamination results, token statistics; and its text rendering for `climb data prepare`.

`ReportBuilder` is filled while rows stream through; `DataReport` is the frozen record it
becomes (what the PreparedData record carries and the manifest stores).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from climb.records import PreparedData


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceCounts(_Frozen):
    """Rows read and kept from one source, and its drops by reason."""

    rows: int = 0
    kept: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)


class SplitPacking(_Frozen):
    """Rows and padding of one split."""

    rows: int
    tokens: int
    padding_tokens: int
    padding_ratio: float
    row_length_histogram: dict[str, int] = Field(default_factory=dict)


class PackingReport(_Frozen):
    """How examples became rows (data.packing) and what padding that costs."""

    mode: Literal["none", "packed", "padded"] = "none"
    length: int = 0
    columns: list[str] = Field(default_factory=lambda: ["input_ids", "labels"])
    rows: int = 0
    padding_tokens: int = 0
    padding_ratio: float = 0.0
    splits: dict[str, SplitPacking] = Field(default_factory=dict)
    padding_estimate: str | None = None


class DedupReport(_Frozen):
    """Duplicate removal: the settings, index sizes and rows dropped."""

    exact: bool = False
    near: bool = False
    threshold: float = 0.0
    num_perm: int = 0
    shingle: str = ""
    shingle_size: int = 0
    exact_index: int = 0
    lsh_bands: int = 0
    lsh_rows: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    method: str = ""


class IndexInfo(_Frozen):
    """The benchmark n-gram index decontamination checked against."""

    items: int
    ngrams: int
    cached: bool
    load_seconds: float
    build_seconds: float


class BenchmarkHits(_Frozen):
    """Contaminated training examples of one benchmark, and the distinct items they overlap."""

    examples: int
    items: int


class ContaminationHit(_Frozen):
    """One contaminated training example, shown in the report."""

    source: str
    row: int
    benchmark: str
    task: str
    doc: int | str
    benchmark_text: str
    ngram: str
    example: str
    benchmarks: list[str]


class DecontaminationReport(_Frozen):
    """Overlap between training examples and the evaluation suite's documents.

    `clean` is what the promotion gate reads: False when the check did not run, or found
    overlaps it did not drop.
    """

    enabled: bool
    clean: bool
    reason: str = ""
    suite: str = ""
    benchmarks: str = ""
    ngram: int = 0
    min_words: int = 0
    action: Literal["drop", "report", "fail", ""] = ""
    dropped: int = 0
    index: IndexInfo | None = None
    contaminated_examples: int = 0
    per_benchmark: dict[str, BenchmarkHits] = Field(default_factory=dict)
    examples: list[ContaminationHit] = Field(default_factory=list)
    scan_seconds: float = 0.0
    compared: str = ""


class ProcessingReport(_Frozen):
    """How the stage ran: worker processes, chunks, examples that needed the per-example
    tokenisation (a template that edits contents), wall time of the row stream."""

    num_proc: int = 1
    chunks: int = 0
    chunk_rows: int = 0
    template_fallbacks: int = 0
    seconds: float = 0.0


class DataReport(_Frozen):
    """What the data stage read, kept and dropped, and the shape of what it wrote."""

    rows_read: int = 0
    examples: int = 0
    train_examples: int = 0
    eval_examples: int = 0
    tokens: int = 0
    trainable_tokens: int = 0
    skipped: dict[str, int] = Field(default_factory=dict)
    sources: dict[str, SourceCounts] = Field(default_factory=dict)
    length_histogram: dict[str, int] = Field(default_factory=dict)
    packing: PackingReport = Field(default_factory=PackingReport)
    dedup: DedupReport = Field(default_factory=DedupReport)
    decontamination: DecontaminationReport = Field(
        default_factory=lambda: DecontaminationReport(enabled=False, clean=False)
    )
    processing: ProcessingReport = Field(default_factory=ProcessingReport)


@dataclass
class ReportBuilder:
    """The report while rows stream through. `skipped` counts every dropped row by reason."""

    rows_read: int = 0
    examples: int = 0
    train_examples: int = 0
    eval_examples: int = 0
    tokens: int = 0
    trainable_tokens: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    length_histogram: dict[str, int] = field(default_factory=dict)
    packing: dict[str, Any] = field(default_factory=dict)
    dedup: dict[str, Any] = field(default_factory=dict)
    decontamination: dict[str, Any] = field(default_factory=dict)
    processing: dict[str, Any] = field(default_factory=dict)

    def drop(self, source: str, reason: str) -> None:
        """Count one dropped row of `source` under `reason`."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        per = self.sources[source].setdefault("skipped", {})
        per[reason] = per.get(reason, 0) + 1

    def freeze(self) -> DataReport:
        """Return the finished report as a frozen, validated DataReport."""
        from dataclasses import asdict

        return DataReport.model_validate(asdict(self))


class Contamination:
    """Collects decontamination hits for the report."""

    def __init__(self, max_reported: int) -> None:
        """Keep at most `max_reported` example hits in full."""
        self.max_reported = max_reported
        self.examples = 0
        self.per_benchmark: Counter[str] = Counter()
        self.items: dict[str, set[int]] = {}
        self.shown: list[dict[str, Any]] = []
        self.seconds = 0.0

    def add(
        self, source: str, row: int, text: str, hits: list[tuple[int, str]], items: list[list[Any]]
    ) -> None:
        """Record one contaminated training example and the benchmark items it overlaps."""
        self.examples += 1
        benches = sorted({items[i][0] for i, _ in hits})
        for b in benches:
            self.per_benchmark[b] += 1
        for i, _ in hits:
            self.items.setdefault(items[i][0], set()).add(i)
        if len(self.shown) < self.max_reported:
            item_id, gram = hits[0]
            bench, task, doc, query = items[item_id]
            self.shown.append(
                {
                    "source": source,
                    "row": row,
                    "benchmark": bench,
                    "task": task,
                    "doc": doc,
                    "benchmark_text": query,
                    "ngram": gram,
                    "example": text[:200],
                    "benchmarks": benches,
                }
            )

    def summary(self) -> dict[str, Any]:
        """Return counts per benchmark (examples and distinct benchmark items) and examples."""
        return {
            "contaminated_examples": self.examples,
            "per_benchmark": {
                b: {"examples": n, "items": len(self.items[b])}
                for b, n in sorted(self.per_benchmark.items())
            },
            "examples": self.shown,
            "scan_seconds": round(self.seconds, 3),
        }


def format_report(data: PreparedData) -> str:
    """Return a person-readable summary of a prepared dataset (report, digest, location)."""
    r = data.report
    lines = [
        f"dataset  {data.path}" + (f"  ({data.uri})" if data.uri else ""),
        f"digest   {data.digest}  ({'cached' if data.cached else 'prepared'} in "
        f"{data.seconds:.1f}s)",
        f"rows     read {r.rows_read}, kept {r.examples} (train "
        f"{r.train_examples}, eval {r.eval_examples}), tokens {r.tokens} "
        f"(trainable {r.trainable_tokens})",
    ]
    for name, s in r.sources.items():
        lines.append(f"source   {name}: read {s.rows}, kept {s.kept}, dropped {s.skipped}")
    lines.append(
        "dropped  " + (", ".join(f"{k} {v}" for k, v in sorted(r.skipped.items())) or "nothing")
    )
    p = r.packing
    if p.rows:
        lines.append(
            f"rows out {p.mode}: {p.rows} rows of <= {p.length} "
            f"tokens, padding ratio {p.padding_ratio}"
        )
    lines.append("lengths  " + ", ".join(f"{k}: {v}" for k, v in r.length_histogram.items()))
    d = r.decontamination
    if not d.enabled:
        lines.append(f"decontam NOT CHECKED ({d.reason or 'disabled'}): not promotable")
    else:
        index = f"{d.index.items} items / {d.index.ngrams} n-grams" if d.index else "no index"
        lines.append(
            f"decontam {d.ngram}-grams vs {d.suite} ({d.benchmarks}), {index}: "
            f"{d.contaminated_examples} contaminated, action {d.action}, clean={d.clean}"
        )
        for b, v in d.per_benchmark.items():
            lines.append(f"         {b}: {v.examples} examples, {v.items} items")
        for e in d.examples[:5]:
            lines.append(f"         e.g. {e.source}#{e.row} ~ {e.task}[{e.doc}]: {e.ngram!r}")
    return "\n".join(lines)

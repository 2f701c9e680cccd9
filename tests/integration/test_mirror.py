"""`climb mirror`: export a suite's datasets into a mirror folder (the code path that reads the
Hub, fed here by `datasets.load_dataset` over local JSON files), upload it to S3 and download it
again through a real S3 API (moto_server started on 127.0.0.1 by this module), then evaluate-
time loading from the downloaded copy.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from climb import storage
from climb.evaluate import mirror_export as mx
from climb.evaluate.mirror import MirrorError, load_from_mirror
from climb.evaluate.suites import load_suite
from climb.evaluate.tasks import plan_suite

pytestmark = pytest.mark.integration

ROWS = {
    split: [
        {
            "id": f"{split}-{i}",
            "question": f"{split} question {i}?",
            "choices": {"text": ["red", "green", "blue", "grey"], "label": ["A", "B", "C", "D"]},
            "answerKey": "ABCD"[i % 4],
        }
        for i in range(n)
    ]
    for split, n in (("train", 6), ("validation", 3), ("test", 4))
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s3_endpoint(moto_server: str) -> str:
    """The session's moto_server (S3 API on 127.0.0.1)."""
    return moto_server


@pytest.fixture
def aws_env(monkeypatch):
    for key, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def arc_suite():
    """The v1 suite reduced to ARC-Challenge (climb's task, allenai/ai2_arc)."""
    suite = load_suite("open-llm-v1")
    return suite.model_copy(update={"tasks": [t for t in suite.tasks if t.name == "arc_challenge"]})


@pytest.fixture
def local_loader(tmp_path):
    """A `load_dataset`-compatible loader over local JSON files (standing in for the Hub)."""
    import datasets

    src = tmp_path / "hub"
    src.mkdir()
    for split, rows in ROWS.items():
        (src / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    calls = []

    def load(path, name=None, **kwargs):
        calls.append((path, name, kwargs))
        files = {split: str(src / f"{split}.jsonl") for split in ROWS}
        return datasets.load_dataset("json", data_files=files, cache_dir=str(tmp_path / "cache"))

    load.calls = calls
    return load


def test_export_writes_the_suite_datasets_in_the_mirror_layout(tmp_path, arc_suite, local_loader):
    out = tmp_path / "mirror"
    layout = mx.export_mirror(arc_suite, out, local_loader)
    assert local_loader.calls == [("allenai/ai2_arc", "ARC-Challenge", {})]
    files = layout["allenai/ai2_arc"]["ARC-Challenge"]["files"]
    assert set(files) == {"train", "validation", "test"}
    for split, rel in files.items():
        rows = [json.loads(line) for line in (out / rel).read_text().splitlines()]
        assert rows == ROWS[split]
    mx.verify_sums(out)

    plan = plan_suite(arc_suite, out)
    assert plan.deviations == []  # train (the few-shot pool) is there
    kwargs = plan.overrides["climb_arc_challenge"]["dataset_kwargs"]
    assert all(Path(f).is_relative_to(out) for f in kwargs["mirror_files"].values())
    assert load_from_mirror(**kwargs)["test"].to_list() == ROWS["test"]
    # the task lm-eval builds from the plan reads the exported files
    (task,) = plan.tasks().values()
    assert task.eval_docs.to_list() == ROWS["test"]
    assert task.fewshot_docs().to_list() == ROWS["train"]


def test_s3_round_trip(tmp_path, arc_suite, local_loader, s3_endpoint, aws_env):
    out, back = tmp_path / "mirror", tmp_path / "downloaded"
    mx.export_mirror(arc_suite, out, local_loader)
    client = storage.client(s3_endpoint)
    client.create_bucket(Bucket="mirrors")
    keys = mx.upload_mirror(out, "s3://mirrors/bench/v1", client)
    assert "s3://mirrors/bench/v1/mirror.yaml" in keys
    assert keys[-1] == "s3://mirrors/bench/v1/SHA256SUMS"  # the checksums land last
    mx.download_mirror("s3://mirrors/bench/v1", back, client)
    sent = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    got = sorted(p.relative_to(back) for p in back.rglob("*") if p.is_file())
    assert got == sent
    assert all((out / p).read_bytes() == (back / p).read_bytes() for p in sent)
    (task,) = plan_suite(arc_suite, back).tasks().values()
    assert task.fewshot_docs().to_list() == ROWS["train"]
    assert task.eval_docs.to_list() == ROWS["test"]

    test_file = next(back.rglob("test.jsonl"))
    test_file.write_text(test_file.read_text().replace("question 0", "question X"))
    with pytest.raises(MirrorError, match="sha256"):
        mx.verify_sums(back)
    with pytest.raises(MirrorError, match="nothing under"):
        mx.download_mirror("s3://mirrors/elsewhere", tmp_path / "empty", client)


def test_cli_upload_and_download(tmp_path, arc_suite, local_loader, s3_endpoint, aws_env):
    from typer.testing import CliRunner

    from climb.cli import app

    out = tmp_path / "mirror"
    mx.export_mirror(arc_suite, out, local_loader)
    storage.client(s3_endpoint).create_bucket(Bucket="cli")
    runner = CliRunner()
    up = runner.invoke(
        app, ["mirror", "upload", str(out), "s3://cli/m", "--endpoint-url", s3_endpoint]
    )
    assert up.exit_code == 0, up.output
    down = runner.invoke(
        app,
        ["mirror", "download", "s3://cli/m", str(tmp_path / "d"), "--endpoint-url", s3_endpoint],
    )
    assert down.exit_code == 0, down.output
    assert "checksums verified" in down.output
    bad = runner.invoke(app, ["mirror", "sideload", "a", "b"])
    assert bad.exit_code == 2
    assert "unknown mirror action" in bad.output
    missing = runner.invoke(app, ["mirror", "export", "no-such-suite", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "no suite" in missing.output
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"

"""S3 round trip against a local moto_server (started here on 127.0.0.1, stopped after): a
JSONL and a Parquet source read from S3, the prepared dataset published to S3, and a second
machine (a fresh state folder) reusing it from S3 instead of preparing it again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from climb.data.prepare import prepare_data
from climb.data.sources import SourceError
from climb.state import StateDir
from tests.unit.test_data_sources import GOOD, data_cfg

pytestmark = pytest.mark.integration


def test_s3_round_trip(moto_server: str, tmp_path: Path, smollm2, monkeypatch) -> None:
    import boto3
    import pyarrow as pa
    import pyarrow.parquet as pq

    for key, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    s3 = boto3.client("s3", endpoint_url=moto_server)
    s3.create_bucket(Bucket="train-data")
    s3.create_bucket(Bucket="prepared")
    s3.put_object(
        Bucket="train-data",
        Key="sets/a.jsonl",
        Body="".join(json.dumps(r) + "\n" for r in GOOD[:5]).encode() + b"{oops\n",
    )
    parquet = tmp_path / "b.parquet"
    pq.write_table(pa.Table.from_pylist(GOOD[5:]), parquet)
    s3.upload_file(str(parquet), "train-data", "sets/b.parquet")

    cfg = data_cfg([{"path": "s3://train-data/sets/"}], output={"uri": "s3://prepared/climb"})
    first = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "machine-a"))
    assert not first.cached and first.report.examples == len(GOOD)
    assert first.report.skipped == {"invalid_json": 1}
    assert first.uri == f"s3://prepared/climb/{first.key[:16]}"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="prepared")["Contents"]}
    assert keys == {f"climb/{first.key[:16]}/{n}" for n in ("train.parquet", "manifest.json")}

    second = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "machine-b"))
    assert second.cached and second.digest == first.digest and second.uri == first.uri
    local = Path(second.path) / "train.parquet"
    assert local.read_bytes() == (Path(first.path) / "train.parquet").read_bytes()

    s3.put_object(Bucket="train-data", Key="sets/a.jsonl", Body=json.dumps(GOOD[0]).encode())
    changed = prepare_data(cfg, smollm2.path, StateDir.at(tmp_path / "machine-b"))
    assert not changed.cached and changed.key != first.key  # new ETag, new preparation

    missing = data_cfg([{"path": "s3://train-data/nope.jsonl"}])
    with pytest.raises(SourceError, match=r"s3://train-data/nope\.jsonl"):
        prepare_data(missing, smollm2.path, StateDir.at(tmp_path / "machine-c"))

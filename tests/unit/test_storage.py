"""The S3 layer's pure parts: URI parsing naming the setting, the one endpoint rule, and path
safety of object keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from climb import storage


def test_parse_names_the_setting_that_held_a_bad_uri() -> None:
    loc = storage.parse("s3://bucket/a/b/", "data.output.uri")
    assert (loc.bucket, loc.key, loc.prefix) == ("bucket", "a/b/", "a/b/")
    assert str(loc.join("c", "d.json")) == "s3://bucket/a/b/c/d.json"
    assert storage.parse("s3://bucket").prefix == ""
    with pytest.raises(storage.StorageError, match=r"train.checkpoint_uri: 'gs://x/y' is not"):
        storage.parse("gs://x/y", "train.checkpoint_uri")
    with pytest.raises(storage.StorageError, match="has no bucket"):
        storage.parse("s3:///key", "mirror source")


def test_one_endpoint_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in storage.ENDPOINT_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    assert storage.endpoint() is None
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://mlflow-s3")
    assert storage.endpoint() == "http://mlflow-s3"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://aws")
    assert storage.endpoint() == "http://aws"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-only")
    assert storage.endpoint() == "http://s3-only"
    assert storage.endpoint("http://explicit") == "http://explicit"
    assert storage.client("http://explicit").meta.endpoint_url == "http://explicit"


@pytest.mark.parametrize("key", ["../escape.txt", "/abs/path", "a/../../b", ""])
def test_keys_that_escape_the_folder_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(storage.StorageError, match="outside"):
        storage.safe_target(tmp_path / "dst", key)


def test_keys_inside_the_folder_map_to_paths(tmp_path: Path) -> None:
    assert storage.safe_target(tmp_path, "a/b.json") == tmp_path / "a" / "b.json"

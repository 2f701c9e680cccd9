"""The S3 layer against a real S3 API (moto_server on 127.0.0.1): a folder goes up in parallel
with its marker last, comes back byte for byte, an escaping key is refused before anything is
written, and a prefix is deleted across pages. Starts: moto_server (session fixture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from climb import storage

pytestmark = pytest.mark.integration


@pytest.fixture
def s3(moto_server: str, monkeypatch: pytest.MonkeyPatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    client = storage.client(moto_server)
    return client


def test_folder_round_trip_with_marker_last(s3, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="round-trip")
    src = tmp_path / "src"
    for i in range(25):
        (src / "shards").mkdir(parents=True, exist_ok=True)
        (src / "shards" / f"{i:02d}.bin").write_bytes(bytes([i]) * (1000 + i))
    (src / "manifest.json").write_text('{"ok": true}')
    dst = storage.parse("s3://round-trip/sets/v1", "test")
    written = storage.upload_dir(src, dst, last=("manifest.json",), s3=s3)
    assert written[-1] == "s3://round-trip/sets/v1/manifest.json" and len(written) == 26
    back = storage.download_prefix(dst, tmp_path / "back", s3=s3)
    assert len(back) == 26
    for p in src.rglob("*"):
        if p.is_file():
            assert (tmp_path / "back" / p.relative_to(src)).read_bytes() == p.read_bytes()
    assert storage.exists(dst.join("manifest.json"), s3)
    assert not storage.exists(dst.join("nope.json"), s3)


def test_an_escaping_key_is_refused_before_any_write(s3, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="evil")
    s3.put_object(Bucket="evil", Key="m/ok.txt", Body=b"fine")
    s3.put_object(Bucket="evil", Key="m/../../etc/passwd", Body=b"owned")
    target = tmp_path / "t"
    with pytest.raises(storage.StorageError, match="outside"):
        storage.download_prefix(storage.parse("s3://evil/m"), target, s3=s3)
    assert not target.exists() or not any(target.rglob("*"))


def test_delete_prefix_removes_every_object(s3) -> None:
    s3.create_bucket(Bucket="del")
    for i in range(1205):
        s3.put_object(Bucket="del", Key=f"p/{i}", Body=b"x")
    s3.put_object(Bucket="del", Key="other/keep", Body=b"x")
    assert storage.delete_prefix(storage.parse("s3://del/p"), s3) == 1205
    assert [o.key for o in storage.list_objects(storage.parse("s3://del"), s3)] == ["other/keep"]

"""Hub publishing through huggingface_hub against a local HTTP server speaking the Hub's endpoints
(tests/support/fake_hub.py): create repo, preupload, LFS batch + upload, NDJSON commit,
tree, resolve. Starts: one in-process HTTP server per test (no other servers).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support.factories import published_result
from support.fake_hub import FakeHub

from climb.config import PublishConfig
from climb.evaluate.suites import load_suite
from climb.publish.card import model_card
from climb.publish.repo import build_repo_folder, folder_digest
from climb.publish.target import PublishError, publish_folder
from climb.state import StateDir

pytestmark = pytest.mark.integration
TOKEN = "hf_climbFAKEtoken_7Qx9TokenNeverLogged"
REPO_ID = "climb-org/tiny-champion"
RESULT = published_result()


@pytest.fixture(autouse=True)
def hub_client_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite runs with HF_HUB_OFFLINE=1; these tests talk to the local server only. hf_xet
    is switched off so uploads use the LFS basic transfer the fake server speaks."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setenv("HF_TOKEN", TOKEN)


@pytest.fixture
def hub():
    servers: list[FakeHub] = []

    def make(**faults: int) -> FakeHub:
        server = FakeHub(TOKEN, **faults)
        server.start()
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.stop()


def repo_folder(tmp_path: Path, weights: bytes = b"\x00weights" * 300, extra: str | None = None):
    src = tmp_path / "adapter"
    src.mkdir(exist_ok=True)
    for p in src.iterdir():
        p.unlink()
    (src / "adapter_model.safetensors").write_bytes(weights)
    (src / "adapter_config.json").write_text('{"r": 8}')
    (src / "tokenizer.json").write_text('{"version": "1.0"}')
    if extra:
        (src / extra).write_text("extra")
    card = model_card(
        repo_id=REPO_ID,
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        result=RESULT,
        suite=load_suite("open-llm-v1"),
        license_id="apache-2.0",
        datasets=[],
        config_yaml="name: demo\ntracking:\n  uri: http://alice:s3cret@mlflow:5000\n",
        reasons=["average 41.50 beats base 40.00"],
    )
    folder = tmp_path / "repo"
    digest = build_repo_folder(
        folder, weights_dir=src, card=card, leaderboard={"results": {}}, config_yaml="name: x\n"
    )
    return folder, digest


def cfg(server: FakeHub, **kw: object) -> PublishConfig:
    base = {"repo_id": REPO_ID, "mode": "push", "endpoint": server.url, "retry_backoff_s": 0.0}
    return PublishConfig(**{**base, **kw})  # type: ignore[arg-type]


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_push_creates_private_repo_with_exact_contents(hub, tmp_path: Path) -> None:
    server = hub()
    folder, digest = repo_folder(tmp_path)
    res = publish_folder(cfg(server), folder, digest, StateDir.at(tmp_path / "s"))
    assert res.mode == "push" and res.pushed and res.attempts == 1
    repo = server.repos[REPO_ID]
    assert repo.private is True
    assert len(repo.commits) == 2 and res.commit == repo.head.oid
    head = dict(repo.head.files)
    assert head.pop(".gitattributes")
    assert head == files_of(folder)
    assert repo.head.lfs == {"adapter_model.safetensors"} and server.lfs_uploads == 1
    assert "model-index" in head["README.md"].decode()
    assert "s3cret" not in head["README.md"].decode()  # credentials in URLs are redacted
    assert server.seen_auth == {TOKEN}


def test_same_digest_is_not_pushed_twice(hub, tmp_path: Path) -> None:
    server = hub()
    folder, digest = repo_folder(tmp_path)
    publish_folder(cfg(server), folder, digest, StateDir.at(tmp_path / "s"))
    attempts = server.commit_attempts
    again = publish_folder(cfg(server), folder, digest, StateDir.at(tmp_path / "s"))
    assert again.pushed is False and "already holds" in again.message
    assert server.commit_attempts == attempts and len(server.repos[REPO_ID].commits) == 2


def test_new_model_replaces_every_file_in_one_commit(hub, tmp_path: Path) -> None:
    server = hub()
    folder, digest = repo_folder(tmp_path, extra="old_only.txt")
    publish_folder(cfg(server), folder, digest, StateDir.at(tmp_path / "s"))
    folder2, digest2 = repo_folder(tmp_path, weights=b"\x01new" * 500)
    assert digest2 != digest
    res = publish_folder(cfg(server), folder2, digest2, StateDir.at(tmp_path / "s"))
    repo = server.repos[REPO_ID]
    assert res.pushed and len(repo.commits) == 3
    head = dict(repo.head.files)
    head.pop(".gitattributes")
    assert head == files_of(folder2)  # old_only.txt deleted in the same commit


def test_commit_failing_half_way_is_retried_without_reuploading(hub, tmp_path: Path) -> None:
    server = hub(fail_commits=2)
    folder, digest = repo_folder(tmp_path)
    res = publish_folder(cfg(server, retries=3), folder, digest, StateDir.at(tmp_path / "s"))
    assert res.pushed and res.attempts == 3
    assert server.commit_attempts == 3 and len(server.repos[REPO_ID].commits) == 2
    assert server.lfs_uploads == 1  # the LFS object of the failed attempt is reused


def test_lost_commit_response_does_not_commit_twice(hub, tmp_path: Path) -> None:
    server = hub(drop_commits=1)
    folder, digest = repo_folder(tmp_path)
    res = publish_folder(cfg(server, retries=2), folder, digest, StateDir.at(tmp_path / "s"))
    assert res.attempts == 2 and res.pushed is False and "already holds" in res.message
    assert len(server.repos[REPO_ID].commits) == 2  # initial + the one whose answer was lost


def test_persistent_failure_raises_and_leaves_the_repo_as_it_was(
    hub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = hub(fail_commits=99)
    folder, digest = repo_folder(tmp_path)
    with pytest.raises(PublishError, match="after 3 attempt") as err:
        publish_folder(cfg(server, retries=2), folder, digest, StateDir.at(tmp_path / "s"))
    assert list(server.repos[REPO_ID].head.files) == [".gitattributes"]
    assert TOKEN not in str(err.value) and TOKEN not in caplog.text


def test_bad_token_fails_at_once_and_is_not_echoed(
    hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = hub()
    monkeypatch.setenv("HF_TOKEN", "hf_wrongTOKENvalue123")
    folder, digest = repo_folder(tmp_path)
    with pytest.raises(PublishError, match="after 1 attempt") as err:
        publish_folder(cfg(server), folder, digest, StateDir.at(tmp_path / "s"))
    assert "hf_wrongTOKENvalue123" not in str(err.value)
    assert REPO_ID not in server.repos


def test_private_model_is_never_pushed_into_a_public_repo(hub, tmp_path: Path) -> None:
    server = hub()
    folder, digest = repo_folder(tmp_path)
    publish_folder(cfg(server, private=False), folder, digest, StateDir.at(tmp_path / "s"))
    assert server.repos[REPO_ID].private is False
    folder2, digest2 = repo_folder(tmp_path, weights=b"other" * 400)
    with pytest.raises(PublishError, match="public"):
        publish_folder(cfg(server), folder2, digest2, StateDir.at(tmp_path / "s"))
    assert len(server.repos[REPO_ID].commits) == 2


def test_organization_names_the_repo_owner(hub, tmp_path: Path) -> None:
    server = hub()
    folder, digest = repo_folder(tmp_path)
    conf = cfg(server, repo_id="tiny-champion", organization="team-llm")
    publish_folder(conf, folder, digest, StateDir.at(tmp_path / "s"))
    assert "team-llm/tiny-champion" in server.repos
    assert folder_digest(folder) == digest


def test_folder_that_would_need_several_commits_is_refused(hub, tmp_path: Path) -> None:
    server = hub()
    folder, digest = repo_folder(tmp_path)
    for i in range(21 - sum(1 for p in folder.rglob("*") if p.is_file())):
        (folder / f"model-{i:05d}.safetensors").write_bytes(b"shard")
    with pytest.raises(PublishError, match="holds 21 files; climb pushes at most 20"):
        publish_folder(cfg(server), folder, digest, StateDir.at(tmp_path / "s"))
    assert server.requests == []  # refused before anything was sent

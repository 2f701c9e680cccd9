"""The local launcher names the reason a torchrun job failed, from real-shaped log lines."""

from __future__ import annotations

from climb.launch.local import is_cause_line, root_cause

# Shape of a torchrun log when rank 0 dies on S3 and rank 1 loses its peer (torch 2.13).
S3_FAILURE = [
    "[rank0]: Traceback (most recent call last):",
    '[rank0]:   File "/x/climb/train/checkpoints.py", line 88, in remote_checkpoints',
    "[rank0]: botocore.errorfactory.NoSuchBucket: An error occurred (NoSuchBucket) when calling"
    " the ListObjectsV2 operation: The specified bucket does not exist",
    "[rank1]: RuntimeError: [/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] Connection"
    " closed by peer [127.0.0.1]:51397.",
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
]


def test_first_worker_exception_is_the_cause_not_the_peers_fallout() -> None:
    assert all(is_cause_line(line) for line in S3_FAILURE[2:])
    cause = root_cause(S3_FAILURE)
    assert cause is not None
    assert cause.startswith("botocore.errorfactory.NoSuchBucket: ")


def test_trainer_own_line_wins_and_prefix_is_removed() -> None:
    lines = [
        "[rank0]: ValueError: something",
        "[rank0]: climb.train: out of disk space writing checkpoint-10 (errno 27)",
    ]
    assert root_cause(lines) == "climb.train: out of disk space writing checkpoint-10 (errno 27)"


def test_plain_lines_and_non_errors() -> None:
    assert not is_cause_line('  File "x.py", line 1, in <module>')
    assert not is_cause_line("{'loss': 2.3, 'grad_norm': 1.0}")
    assert not is_cause_line("step 3: loss 2.1")
    assert not is_cause_line("WARNING: Logging before flag parsing")
    assert not is_cause_line("Note: something informative")
    assert root_cause(["hello", "KeyError: 'input_ids'"]) == "KeyError: 'input_ids'"
    assert root_cause(["only peer fallout: Connection closed by peer"]) is None
    assert root_cause(["RuntimeError: Connection closed by peer"]) == (
        "RuntimeError: Connection closed by peer"
    )

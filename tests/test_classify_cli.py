"""The ``responsemaster classify --jsonl`` contract (docs/categories.md) and ``--help`` on every command.

Over a folder of .eml files, a Maildir and an mbox file built from real corpus
messages: one JSON line per message, in input order, keys ``path#key`` for
mailboxes, every field of the contract with the right type. The streaming test
checks that a big mbox is classified in far less memory than its size.
"""

from __future__ import annotations

import json
import mailbox
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from responsemaster.categories import CATEGORIES
from responsemaster.cli import main

VIA = {"verp", "message-id", "dsn", "headers", "from", "none"}
RECIPIENT_FIELDS = ("address", "category", "reason", "status", "reply_code", "remote_mta", "diagnostic")


def run_classify(*paths: Path | str, extra: tuple[str, ...] = (), status: int = 0) -> list[dict]:
    """``responsemaster classify --jsonl`` in a subprocess; the parsed lines (exit ``status`` expected)."""
    proc = subprocess.run(
        [sys.executable, "-m", "responsemaster", "classify", "--jsonl", "--no-model", *extra, *map(str, paths)],
        capture_output=True, timeout=300, check=False,
    )
    assert proc.returncode == status, proc.stderr.decode("utf-8", "replace")[-2000:]
    return [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]


def assert_contract(row: dict) -> None:
    assert isinstance(row["file"], str) and row["file"]
    if "error" in row:  # a failure: never a category (a guess would be routed as one)
        assert row["category"] is None and isinstance(row["error"], str) and row["error"]
        return
    assert row["category"] in CATEGORIES
    assert isinstance(row["confidence"], (int, float)) and 0.0 <= row["confidence"] <= 1.0
    assert isinstance(row["decided_by"], str) and row["decided_by"]
    assert isinstance(row["recipients"], list)
    for rcpt in row["recipients"]:
        for name in RECIPIENT_FIELDS:
            assert isinstance(rcpt[name], str), (name, rcpt)
        assert rcpt["category"] in CATEGORIES
    attribution = row["attribution"]
    assert isinstance(attribution["subscriber"], str)
    assert isinstance(attribution["campaign"], str)
    assert attribution["via"] in VIA


@pytest.fixture(scope="module")
def messages(corpus_files: list[Path]) -> list[tuple[str, bytes]]:
    """Twelve real messages from both sets: (file name, bytes)."""
    step = max(1, len(corpus_files) // 12)
    return [(p.name, p.read_bytes()) for p in corpus_files[::step][:12]]


@pytest.fixture(scope="module")
def eml_folder(tmp_path_factory, messages) -> Path:
    folder = tmp_path_factory.mktemp("eml")
    for name, raw in messages:
        (folder / name).write_bytes(raw)
    return folder


@pytest.fixture(scope="module")
def maildir(tmp_path_factory, messages) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("md") / "Returns"
    box = mailbox.Maildir(root, create=True)
    keys = [box.add(raw) for _, raw in messages]
    box.close()
    return root, keys


@pytest.fixture(scope="module")
def mbox(tmp_path_factory, messages) -> Path:
    path = tmp_path_factory.mktemp("mbox") / "returns.mbox"
    box = mailbox.mbox(path, create=True)
    box.lock()
    for _, raw in messages:
        box.add(raw)
    box.flush()
    box.unlock()
    box.close()
    return path


def test_folder_of_eml(eml_folder: Path, messages) -> None:
    rows = run_classify(eml_folder)
    assert [Path(r["file"]).name for r in rows] == sorted(name for name, _ in messages)
    for row in rows:
        assert_contract(row)
        assert "error" not in row


def test_maildir_keys_and_contract(maildir) -> None:
    root, keys = maildir
    rows = run_classify(root)
    assert sorted(r["file"] for r in rows) == sorted(f"{root}#{key}" for key in keys)
    for row in rows:
        assert_contract(row)


def test_mbox_keys_in_order(mbox: Path, messages) -> None:
    rows = run_classify(mbox)
    assert [r["file"] for r in rows] == [f"{mbox}#{i}" for i in range(len(messages))]
    for row in rows:
        assert_contract(row)


def test_same_message_same_verdict_whatever_the_container(eml_folder: Path, maildir, mbox: Path, messages) -> None:
    """A message stored in an mbox or a Maildir is classified as the .eml file is."""
    by_file = {Path(r["file"]).name: r["category"] for r in run_classify(eml_folder)}
    in_order = [by_file[name] for name, _ in messages]
    assert [r["category"] for r in run_classify(mbox)] == in_order
    root, keys = maildir
    by_key = {r["file"]: r["category"] for r in run_classify(root)}
    assert [by_key[f"{root}#{key}"] for key in keys] == in_order


def test_mixed_paths_keep_input_order(eml_folder: Path, maildir, mbox: Path, messages, tmp_path: Path) -> None:
    root, _ = maildir
    single = min(eml_folder.iterdir())
    missing = tmp_path / "missing.eml"
    rows = run_classify(mbox, single, missing, root, eml_folder, status=2)  # 2: a given path does not exist
    n = len(messages)
    files = [r["file"] for r in rows]
    assert len(rows) == 3 * n + 2
    assert files[:n] == [f"{mbox}#{i}" for i in range(n)]
    assert files[n] == str(single)
    assert files[n + 1] == str(missing) and "error" in rows[n + 1]
    assert all(f.startswith(f"{root}#") for f in files[n + 2 : 2 * n + 2])
    assert [Path(f).parent for f in files[2 * n + 2 :]] == [eml_folder] * n
    for row in rows:
        assert_contract(row)


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=lambda p: " ".join(p) or "responsemaster")
def test_help_on_every_command(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_from_the_installed_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "responsemaster", "--help"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0 and "classify" in proc.stdout


# --- streaming ----------------------------------------------------------------------------------

#: Size of the big mbox. Classification runs at ~1 MB/s on one core today, so
#: this is sized to stay well under a minute; the bound below is relative to
#: it, so it stays meaningful at any size.
BIG_MBOX_BYTES = 30_000_000

_WRAPPER = (
    "import resource, subprocess, sys\n"
    "with open(sys.argv[1], 'wb') as out:\n"
    "    code = subprocess.call([sys.executable, '-m', 'responsemaster', 'classify', '--jsonl', '--no-model',"
    " sys.argv[2]], stdout=out)\n"
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def _peak_rss_mb(mbox: Path, out: Path) -> float:
    """Peak RSS of ``classify --jsonl`` over ``mbox``, read in a wrapper so no other child counts."""
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, str(out), str(mbox)], capture_output=True, text=True,
                          timeout=600, check=True)
    code, peak_kb = map(int, proc.stdout.split())
    assert code == 0, proc.stderr[-2000:]
    return peak_kb / 1024


@pytest.mark.slow
def test_big_mbox_is_streamed(tmp_path: Path, corpus_files: list[Path]) -> None:
    """Thousands of real messages, 30 MB: memory grows by far less than the mbox's size.

    The same command on a one-message mbox gives the baseline (interpreter,
    classifier, rules). Loading the big mbox whole would add at least its
    size on top of that; streaming must stay under half of it.
    """
    seed = tmp_path / "seed.mbox"
    box = mailbox.mbox(seed, create=True)
    for path in corpus_files:
        box.add(path.read_bytes())
    box.flush()
    box.close()
    chunk = seed.read_bytes()
    copies = BIG_MBOX_BYTES // len(chunk) + 1
    big = tmp_path / "big.mbox"
    with big.open("wb") as handle:
        for _ in range(copies):
            handle.write(chunk)
    total = copies * len(corpus_files)
    one = tmp_path / "one.mbox"
    one.write_bytes(chunk[: chunk.index(b"\nFrom ", 1) + 1])

    baseline = _peak_rss_mb(one, tmp_path / "one.jsonl")
    started = time.perf_counter()
    out = tmp_path / "out.jsonl"
    peak = _peak_rss_mb(big, out)
    elapsed = time.perf_counter() - started

    count = 0
    with out.open(encoding="utf-8") as handle:
        for count, line in enumerate(handle, 1):
            if count in (1, total):
                assert json.loads(line)["file"] == f"{big}#{count - 1}"
    assert count == total, f"{count} lines for {total} messages"
    size_mb = big.stat().st_size / 2**20
    assert peak - baseline < size_mb / 2, f"peak RSS {peak:.0f} MB, baseline {baseline:.0f} MB, mbox {size_mb:.0f} MB"
    print(f"{total} messages, {size_mb:.0f} MB: peak RSS {peak:.0f} MB (baseline {baseline:.0f} MB), {elapsed:.0f}s")

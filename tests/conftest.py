"""Shared fixtures: where the labelled corpus is, and messages from it.

The corpus (real mail nobody here wrote) lives beside the repository in
``../shared/corpus`` or wherever ``$RESPONSEMASTER_CORPUS`` points. Tests that
need it are skipped when it is missing, except under CI (the one rule of
``fixtures.servers.under_ci``), where a missing corpus fails them with a
message saying where it was looked for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fixtures.servers import missing

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _compiled_patterns_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The tests (and the processes they start) keep compiled patterns in their own folder, not the user's cache."""
    from responsemaster.regex_cache import ENV

    before = os.environ.get(ENV)
    os.environ[ENV] = str(tmp_path_factory.mktemp("regex-cache"))
    yield
    if before is None:
        os.environ.pop(ENV, None)
    else:
        os.environ[ENV] = before


def corpus_dir() -> Path:
    env = os.environ.get("RESPONSEMASTER_CORPUS")
    return Path(env) if env else REPO.parent / "shared" / "corpus"


def _require_corpus() -> Path:  # type: ignore[return]
    path = corpus_dir()
    if (path / "bounces" / "labels.jsonl").is_file():
        return path
    why = (
        f"the labelled corpus is missing: looked for {path}/bounces/labels.jsonl "
        "(put shared/ beside the clone or set RESPONSEMASTER_CORPUS)"
    )
    missing(why)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The corpus folder (``bounces/``, ``hand-labelled/``)."""
    return _require_corpus()


@pytest.fixture(scope="session")
def corpus_files(corpus: Path) -> list[Path]:
    """Every labelled message of both sets, in label order."""
    files = []
    for set_name in ("bounces", "hand-labelled"):
        folder = corpus / set_name
        labels = folder / "labels.jsonl"
        if labels.is_file():
            for line in labels.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    files.append(folder / json.loads(line)["file"])
    return files


@pytest.fixture(scope="session")
def sample_messages(corpus_files: list[Path]) -> list[bytes]:
    """A spread of ~40 real messages (every n-th corpus file), as bytes."""
    step = max(1, len(corpus_files) // 40)
    return [p.read_bytes() for p in corpus_files[::step]]


@pytest.fixture(scope="session")
def classifier():
    """The classifier without a trained model (structure and rules), built once."""
    from responsemaster.classify import build_classifier
    from responsemaster.config import Settings

    settings = Settings()
    settings.classify.use_model = False
    return build_classifier(settings)

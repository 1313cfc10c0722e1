"""Write the tokenizer data (``tokenizer-<lang>.json``) into a model folder trained before it was saved there.

    PYTHONPATH=. python benchmarks/export_tokenizers.py [MODEL_DIR]    # default: the folder models/CURRENT names

``responsemaster train`` writes these files itself (store.save_model calls
the same :func:`~responsemaster.classify.model.tokenizer.export_tokenizers`);
this is for a model saved earlier. Needs spaCy, like training. Check the
result with benchmarks/tokenizer_equality.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from responsemaster.classify.model.store import current_model_dir  # noqa: E402
from responsemaster.classify.model.tokenizer import export_tokenizers  # noqa: E402


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else current_model_dir(REPO / "models")
    if folder is None or not folder.is_dir():
        print("no model folder (give one, or point models/CURRENT at one)", file=sys.stderr)
        return 2
    for path in export_tokenizers(folder):
        print(f"{path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

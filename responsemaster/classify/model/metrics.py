"""Per-category precision/recall/F1, macro-F1, accuracy and the confusion matrix.

One function computes them for ``train`` (stored in meta.json), ``evaluate``
(printed) and tests, so the numbers in the docs, the model's metadata and
the terminal are the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from responsemaster.categories import CATEGORIES


def scores(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    """Every category listed, even one absent from the data (support 0)."""
    labels = list(CATEGORIES) + sorted({*y_true, *y_pred} - set(CATEGORIES))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    present = [label for label in labels if label in set(y_true)]
    return {
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4) if len(y_true) else 0.0,
        "macro_f1": round(float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)), 4)
        if present
        else 0.0,
        "per_category": {
            label: {
                "precision": round(float(p), 4),
                "recall": round(float(r), 4),
                "f1": round(float(f), 4),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "labels": labels,
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist() if len(y_true) else [],
    }

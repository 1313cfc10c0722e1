"""Rich output for ``train`` and ``evaluate``: progress, metrics, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from responsemaster.classify.model.metrics import scores

#: Short column heads so an 11x11 matrix fits an 100-column terminal.
_ABBREV = {
    "hard_bounce": "hard", "soft_bounce": "soft", "mailbox_full": "full", "mail_block": "block",
    "message_restriction": "restr", "delivery_status": "dstat", "auto_reply": "auto",
    "challenge_response": "chall", "feedback_loop": "fbl", "unsubscribe_request": "unsub", "user_reply": "reply",
}


def console() -> Console:
    return Console(width=120)


def progress() -> Progress:
    """A progress bar on stderr (stdout stays clean for the tables)."""
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    )


def print_scores(y_true: Sequence[str], y_pred: Sequence[str], title: str) -> dict[str, Any]:
    """Print per-category P/R/F1, macro-F1, accuracy and the confusion matrix; return the numbers."""
    result = scores(y_true, y_pred)
    out = console()
    table = Table(title=title)
    for head in ("category", "precision", "recall", "F1", "support"):
        table.add_column(head, justify="left" if head == "category" else "right")
    for label, row in result["per_category"].items():
        table.add_row(label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    table.add_section()
    table.add_row("accuracy", "", "", f"{result['accuracy']:.3f}", str(len(y_true)))
    table.add_row("macro-F1", "", "", f"{result['macro_f1']:.3f}", "")
    out.print(table)
    matrix = Table(title="confusion matrix (rows: true, columns: predicted)")
    matrix.add_column("true \\ predicted")
    labels = result["labels"]
    for label in labels:
        matrix.add_column(_ABBREV.get(label, label[:5]), justify="right")
    for label, row in zip(labels, result["confusion"]):
        matrix.add_row(label, *[(f"[bold]{n}[/]" if i == labels.index(label) else str(n) if n else ".")
                                for i, n in enumerate(row)])
    out.print(matrix)
    return result


def print_recipient_model(meta: dict[str, Any]) -> None:
    """The recipient model's size and cross-validated accuracy per head."""
    table = Table(title=f"recipient model: {meta['n_recipients']} labelled recipients "
                        f"({meta['n_with_reason']} with a reason, {meta['n_corrections']} corrections)")
    for head in ("head", "cross-validated accuracy", "folds", "examples"):
        table.add_column(head, justify="left" if head == "head" else "right")
    for head, row in meta.get("cross_validation", {}).items():
        if row:
            table.add_row(head, f"{row['accuracy']:.3f}", str(row["folds"]), str(row["n"]))
    console().print(table)

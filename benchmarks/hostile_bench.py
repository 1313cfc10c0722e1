"""Hostile mail shapes: classification time and memory per MB, to show the worst case stays linear.

    python benchmarks/hostile_bench.py [--sizes 1,5,25] [--shape NAME ...] [--limit 120] [--no-model]

Each shape (the reproductions of issue #16, points 1 and 2, and a few of
their relatives) is built at each size in MB and classified once by the
real classifier (shipped rules and model) in a fresh child process, which
reports the CPU seconds of ``classify`` and its peak memory. A child over
``--limit`` seconds is stopped and shown as ``> limit``. The last column is
seconds per MB at the largest size against the smallest: about 1 means
linear.

Shapes:

- ``params``: ``Content-Type: text/plain`` then ``;a=b`` repeated (the standard
  library's parameter parser is quadratic in the header's length)
- ``rfc2231``: ``a*N*=x`` continuation parameters (RFC 2231), likewise
- ``disposition``: an attachment's ``Content-Disposition`` with ``;a=b`` repeated (``get_filename``)
- ``boundary``: a multipart whose ``Content-Type`` has ``;a=b`` repeated (``get_boundary``)
- ``lines``: a bounce subject over millions of 2-byte lines (the fallback address scan)
- ``parts``: a multipart of millions of tiny parts
- ``nested``: multiparts nested as deep as the size allows
- ``longline``: one line as long as the size
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MB = 1 << 20


def build(shape: str, size: int) -> bytes:
    """A message of about ``size`` bytes in ``shape``."""
    head = b"From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    if shape == "params":
        return head + b"Content-Type: text/plain" + b";a=b" * (size // 4) + b"\r\n\r\nuser unknown\r\n"
    if shape == "rfc2231":
        count = size // 12
        return head + b"Content-Type: text/plain" + b"".join(b"; a*%d*=x" % i for i in range(count)) + b"\r\n\r\nhello\r\n"
    if shape == "disposition":
        return (head + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                b"--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment" + b";a=b" * (size // 4)
                + b"\r\n\r\na,b\r\n--b--\r\n")
    if shape == "boundary":
        return (head + b"Content-Type: multipart/mixed; boundary=b" + b";a=b" * (size // 4)
                + b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nuser unknown\r\n--b--\r\n")
    if shape == "lines":
        return head + b"\r\n" + b"a\n" * (size // 2)
    if shape == "parts":
        return head + b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\n\nx\n" * (size // 8) + b"--b--\n"
    if shape == "nested":
        depth = size // 64
        opening = b"".join(b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1) for i in range(depth))
        return head + b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + opening + b"--b%d\n\ndeep\n" % depth
    if shape == "longline":
        return head + b"\r\n" + b"x" * size + b"\r\n"
    raise ValueError(shape)


SHAPES = ("params", "rfc2231", "disposition", "boundary", "lines", "parts", "nested", "longline")


def child(shape: str, size: int, use_model: bool) -> None:
    """Runs in the child: classify one message, print its CPU seconds and peak memory as JSON."""
    from responsemaster.classify import build_classifier
    from responsemaster.config import Settings

    settings = Settings()
    settings.classify.use_model = use_model
    classifier = build_classifier(settings)
    classifier.classify(build(shape, 1000))  # warm: imports, model, caches
    raw = build(shape, size)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.process_time()
    verdict = classifier.classify(raw)
    seconds = time.process_time() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kb / 1024, "rss_before_mb": before.ru_maxrss / 1024,
                      "bytes": len(raw), "category": verdict.category, "error": verdict.error}))


def measure(shape: str, size_mb: float, limit: float, use_model: bool) -> dict | None:  # type: ignore[type-arg]
    cmd = [sys.executable, __file__, "--child", shape, str(int(size_mb * MB)), "--model" if use_model else "--no-model"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit + 30, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    except subprocess.TimeoutExpired:
        return None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{shape} {size_mb} MB failed:\n{done.stderr[-2000:]}")
    result = json.loads(lines[-1])
    return None if result["seconds"] > limit else result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,5,25", help="message sizes in MB, comma-separated")
    parser.add_argument("--shape", action="append", choices=SHAPES, help="only these shapes (repeatable)")
    parser.add_argument("--limit", type=float, default=120.0, help="CPU seconds before a run is stopped")
    parser.add_argument("--no-model", action="store_true", help="detectors and rules only")
    parser.add_argument("--child", nargs=2, metavar=("SHAPE", "BYTES"), help=argparse.SUPPRESS)
    parser.add_argument("--model", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), not args.no_model)
        return 0
    sizes = [float(s) for s in args.sizes.split(",")]
    print(f"# classify on hostile shapes; {platform.node()}, Python {platform.python_version()}, "
          f"model {'off' if args.no_model else 'on'}; CPU seconds of one classify call (peak MB of the process)")
    print("| shape | " + " | ".join(f"{s:g} MB" for s in sizes) + " | s/MB largest ÷ s/MB smallest |")
    print("|---|" + "---|" * len(sizes) + "---|")
    worst = 0.0
    for shape in args.shape or SHAPES:
        cells, per_mb = [], []
        for size in sizes:
            result = measure(shape, size, args.limit, not args.no_model)
            if result is None:
                cells.append(f"> {args.limit:g} s")
                per_mb.append(float("inf"))
                continue
            cells.append(f"{result['seconds']:.2f} s ({result['peak_mb']:.0f} MB)")
            per_mb.append(max(result["seconds"], 0.01) / size)
            worst = max(worst, result["seconds"])
        ratio = per_mb[-1] / per_mb[0] if per_mb[0] not in (0.0, float("inf")) else float("inf")
        print(f"| {shape} | " + " | ".join(cells) + f" | {ratio:.2f} |", flush=True)
    print(f"\nslowest: {worst:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

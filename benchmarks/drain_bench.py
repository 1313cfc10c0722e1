"""Benchmark: the worker's drain throughput and memory against classify-only (issues 4 and 13).

    python benchmarks/drain_bench.py [--messages 10000] [--workers N] [--no-model] [--markdown FILE]
                                     [--skip-postgres] [--skip-dovecot] [--skip-maildir] [--keep]
                                     [--rounds R]

One run measures, on N messages built by repeating the corpus
($RESPONSEMASTER_CORPUS, else ../shared/corpus; bounces/ and hand-labelled/),
each copy with its own Message-ID (tests/fixtures/worker_setup.py's
``fill_maildir`` / ``unique_copy``):

- **classify-only**: ``build_classifier(settings).classify(raw)`` in-process on
  the same messages; only the ``classify`` calls are timed (reading the files is
  not). The reference for the ratios.
- **Maildir -> SQLite** and **Maildir -> PostgreSQL**, one worker:
  ``Runtime.build(settings)`` then ``runtime.drain_all_once(build_sources(settings),
  settle_seconds=0)`` timed (what ``responsemaster run --once --workers 1``
  does): claim, classify, keep the raw bytes (hard-linked from the Maildir,
  directories fsynced per batch), one transaction per batch recorded in bulk,
  ack. PostgreSQL is a throwaway cluster started the way
  tests/fixtures/postgres.py does (fsync off); skipped with a note when its
  binaries are missing.
- the same with **N workers** (``--workers``, default one per CPU): what
  ``run --once --workers N`` does (``worker_pool.drain_once``: N forked
  processes, each its own runtime and claims on the same source and
  database), timed from the fork to the last worker's exit, so each
  worker's start-up (store, classifier, the model on first use) is in it.
  Run at the larger size only.
- **Dovecot (IMAP) -> SQLite** and **-> PostgreSQL**: a throwaway local Dovecot
  started as tests/fixtures/dovecot.py does; the messages are APPENDed first
  (untimed), then the drain is timed. Skipped with a note when dovecot is missing.

The files written before the clock starts (the Maildir, Dovecot's mailbox) are
flushed to disk first (``sync``), as an MDA that fsyncs each delivery leaves
them: otherwise the drain's first fsync would pay for writing the whole input.

Every contender runs at two sizes, N/10 and N, each in its own child process
(a fresh interpreter, a fresh Maildir / mailbox / database), and reports the
child's peak RSS (``VmHWM`` from /proc/self/status; with N workers, the
largest worker's), so the growth from N/10 to N shows whether memory stays
flat. The classifier is built and warmed on 50 corpus messages before the
clock starts, in every one-worker child alike, and the heap then frozen
(``gc.freeze``), as in classify-only. Rates are wall-clock. Each child's CPU
seconds (user + system, all its threads and worker processes) are in the
table too, with the CPU ratio to classify-only (classify-only's CPU seconds
over the drain's, same messages: for N workers, the ratio per worker): on a
shared machine the wall-clock ratio moves with everybody else's load, the
CPU ratio much less. The database and IMAP servers run in their own
processes: their CPU seconds (the server's process tree, from /proc) are in
their own column, not in the CPU ratio. The load average (1 minute) at the
end of each run is in the last column.

``--rounds R`` (default 1) adds R - 1 more rounds at N after everything else:
classify-only, then the one-worker Maildir drains (SQLite, and PostgreSQL
unless skipped), each drain's CPU ratio taken against its own round's
classify-only. A later round's runs are about a minute apart, the first
round's several minutes, and this machine's speed moves by a tenth from one
minute to the next (the same classify-only took 0.49 to 0.74 ms a message
from one 10,000-message step to the next, benchmarks/ratio_by_size.py). The
target lines then give every round's ratio and their median, the figure to
hold against the target (``--skip-dovecot --skip-postgres --rounds 5``:
five SQLite pairs, the first with the two-worker run between its halves).

The classifier's trained model is on, as shipped (``[classify] use_model``);
``--no-model`` runs structure and rules only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests"))  # reuse the test fixtures' helpers (fixtures.*)

from corpus import SETS, find_corpus

#: Targets of issues 4 and 13 (one worker's CPU ratio to classify-only; Dovecot with N workers).
TARGET_RATIO = 0.8
TARGET_RATIO_PG = 0.7
TARGET_IMAP_RATE = 500.0
TARGET_GROWTH_MB = 50.0
WARMUP = 50


# --------------------------------------------------------------------------- child side


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _warm(classifier: object, corpus: list[Path]) -> None:
    """A few classifications (the model loads, caches fill), then the heap frozen for the collector.

    The scorers sum with numpy, as ``classify`` of many messages and the worker do (fastpath.use_numpy).
    """
    import gc

    from responsemaster.classify.model.fastpath import use_numpy

    use_numpy()
    for path in corpus[:: max(1, len(corpus) // WARMUP)][:WARMUP]:
        classifier.classify(path.read_bytes())  # type: ignore[attr-defined]
    gc.collect()
    gc.freeze()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def child(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process; one JSON line on stdout."""
    from responsemaster.config import load_settings

    settings = load_settings(args.config)
    corpus = corpus_files()
    if args.child == "classify":
        from responsemaster.classify import build_classifier

        classifier = build_classifier(settings)
        _warm(classifier, corpus)
        files = sorted((Path(args.maildir) / "new").iterdir())
        seconds, cpu, count = 0.0, 0.0, 0
        for path in files:
            raw = path.read_bytes()
            start, start_cpu = time.perf_counter(), _cpu()
            classifier.classify(raw)
            seconds += time.perf_counter() - start
            cpu += _cpu() - start_cpu
            count += 1
        result = {"messages": count, "seconds": seconds, "cpu": cpu}
    elif args.child == "drain-n":
        from responsemaster.worker_pool import drain_once

        start, start_cpu = time.perf_counter(), _cpu() + _children_cpu()
        totals = drain_once(settings, args.workers, settle_seconds=0)
        seconds, cpu = time.perf_counter() - start, _cpu() + _children_cpu() - start_cpu
        result = {
            "messages": sum(t.processed + t.quarantined + t.duplicates for t in totals.values()),
            "seconds": seconds,
            "cpu": cpu,
            "failed": sum(t.failed for t in totals.values()),
            "quarantined": sum(t.quarantined for t in totals.values()),
            "children_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        }
    else:
        from responsemaster.ingest.factory import build_sources
        from responsemaster.worker_runtime import Runtime

        runtime = Runtime.build(settings)
        _warm(runtime.classifier, corpus)
        sources = build_sources(settings)
        start, start_cpu = time.perf_counter(), _cpu()
        totals = runtime.drain_all_once(sources, settle_seconds=0)
        seconds, cpu = time.perf_counter() - start, _cpu() - start_cpu
        done = sum(t.processed + t.quarantined + t.duplicates for t in totals.values())
        failed = sum(t.failed for t in totals.values())
        runtime.close()
        for source in sources:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        result = {
            "messages": done,
            "seconds": seconds,
            "cpu": cpu,
            "failed": failed,
            "quarantined": sum(t.quarantined for t in totals.values()),
        }
    result["peak_rss_mb"] = max(_peak_rss_mb(), result.pop("children_peak_rss_mb", 0.0))
    print(json.dumps(result), flush=True)


# --------------------------------------------------------------------------- parent side


def corpus_files() -> list[Path]:
    root = find_corpus()
    files = sorted(p for s in SETS for p in (root / s).glob("*.eml"))
    if not files:
        sys.exit(f"no corpus messages under {root}/{{{','.join(SETS)}}}/ (set RESPONSEMASTER_CORPUS)")
    return files


@dataclass
class Row:
    contender: str
    workers: int
    messages: int
    seconds: float
    cpu: float
    peak_rss_mb: float
    server_cpu: float | None = None
    load: float = 0.0
    rate: float = 0.0
    ratio: float | None = None
    cpu_ratio: float | None = None
    note: str = ""
    #: Which of ``--rounds`` (1: the first pass over every contender).
    round: int = 1

    @property
    def reference(self) -> bool:
        return self.contender.startswith("classify-only")


def write_config(path: Path, db_url: str, use_model: bool, source: dict, batch_size: int | None = None) -> Path:
    """The run's responsemaster.toml; ``batch_size`` sets ``[worker] batch_size`` (else the default)."""
    import tomli_w

    config: dict = {
        "var_dir": str(path.parent / "var"),
        "database": {"url": db_url},
        "classify": {"use_model": use_model},
        "receiver": {"enabled": False},
        "sources": [source],
    }
    if batch_size is not None:
        config["worker"] = {"batch_size": batch_size}
    path.write_text(tomli_w.dumps(config))
    return path


def child_env() -> dict[str, str]:
    """A measuring child's environment: the config names the database; numpy as the command starts it."""
    env = {k: v for k, v in os.environ.items() if k != "RESPONSEMASTER_DATABASE_URL"}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the command sets it (responsemaster/cli/__init__.py)
    return env


def run_child(kind: str, config: Path, maildir: Path | None = None, workers: int = 1) -> dict:
    os.sync()  # the input is on disk before the clock starts (see the module docstring)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--config", str(config),
           "--workers", str(workers)]
    if maildir is not None:
        cmd += ["--maildir", str(maildir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{kind} child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def tree_cpu(root: int) -> float:
    """CPU seconds of process ``root`` and its descendants, living and reaped (a server: postmaster, dovecot)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        # utime, stime, and the reaped children's cutime, cstime
        times[pid] = sum(int(x) for x in fields[11:15]) / ticks
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo += [child for child, parent in parents.items() if parent == pid]
    return total


class Dovecot:
    """A throwaway Dovecot, configured exactly as tests/fixtures/dovecot.py's fixture."""

    def __init__(self) -> None:
        from fixtures import dovecot as fx

        self.fx = fx
        self.root = Path(tempfile.mkdtemp(prefix="rm-bench-dovecot-"))
        self.root.chmod(0o755)
        accounts = fx._accounts()
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir()
        os.chown(self.root / "mail", accounts["uid"], accounts["gid"])  # type: ignore[arg-type]
        fx._write_users(self.root, int(accounts["uid"]), int(accounts["gid"]))  # type: ignore[arg-type]
        self.port = fx.free_port()
        conf = self.root / "dovecot.conf"
        conf.write_text(fx.CONF.format(root=self.root, port=self.port, internal_group=accounts["internal"], **accounts))
        self.process = subprocess.Popen(
            [fx.DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.users = iter(range(fx.POOL))
        try:
            fx._wait_for_port(self.port, self.process, self.root)
        except Exception:
            self.stop()
            raise

    def new_user(self) -> str:
        return f"user{next(self.users)}"

    def append(self, user: str, messages: list[bytes]) -> int:
        from imapclient import IMAPClient

        with IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=60) as client:
            client.login(user, self.fx.PASSWORD)
            multi = b"MULTIAPPEND" in client.capabilities()
            for start in range(0, len(messages), 500):
                chunk = messages[start : start + 500]
                if multi:  # RFC 3502: one command per 500 messages (100k single APPENDs take minutes)
                    client.multiappend("INBOX", chunk)
                else:
                    for raw in chunk:
                        client.append("INBOX", raw)
            return int(client.select_folder("INBOX")[b"EXISTS"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres():  # type: ignore[no-untyped-def]
    """A throwaway cluster (tests/fixtures/postgres.py's PgCluster), or (None, why)."""
    try:
        from fixtures.postgres import PgCluster, pg_bin
    except ImportError as exc:
        return None, f"cannot import the PostgreSQL fixture ({exc})"
    bindir = pg_bin()
    if bindir is None:
        return None, "PostgreSQL is not installed (apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, "psycopg is not installed (pip install 'psycopg[binary]')"
    cluster = PgCluster(bindir)
    try:
        cluster.start()
    except subprocess.CalledProcessError as exc:
        cluster.stop()
        return None, f"PostgreSQL did not start: {exc.stderr!r}"
    return cluster, ""


def messages_for(corpus: list[Path], count: int) -> list[bytes]:
    """The same mix fill_maildir writes (corpus shuffled with seed 4, unique Message-IDs)."""
    from fixtures.worker_setup import unique_copy

    sources = [p.read_bytes() for p in corpus]
    random.Random(4).shuffle(sources)
    return [unique_copy(sources[seq % len(sources)], seq) for seq in range(count)]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.node()}: {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average at start {load}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="N (default 10000; 100000 for the full run)")
    parser.add_argument("--workers", type=int, default=0, help="worker processes of the N-worker runs (default: one per CPU)")
    parser.add_argument(
        "--no-model", action="store_true", help="structure and rules only ([classify] use_model = false)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the table (with command, machine, targets) here")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-dovecot", action="store_true")
    parser.add_argument(
        "--skip-maildir", action="store_true", help="no Maildir contenders (e.g. to run the Dovecot ones on their own)"
    )
    parser.add_argument("--batch-size", type=int, help="[worker] batch_size of the drains (default: the worker's)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of classify-only and the one-worker Maildir drains at N, in turn (default 1)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--maildir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    from fixtures.worker_setup import fill_maildir

    from responsemaster.worker_pool import default_workers

    workers = args.workers or default_workers()
    command = "python benchmarks/drain_bench.py " + " ".join(sys.argv[1:])
    where = machine()
    corpus = corpus_files()
    use_model = not args.no_model
    sizes = sorted({max(1, args.messages // 10), args.messages})
    work = Path(tempfile.mkdtemp(prefix="rm-drain-bench-"))
    notes: list[str] = []
    rows: list[Row] = []
    cluster = dovecot = None

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def measure(name: str, kind: str, config: Path, n: int, count: int = 1, maildir: Path | None = None,
                server: int | None = None, turn: int = 1) -> None:
        log(f"{name}, {count} worker(s), {n} messages" + (f", round {turn}" if turn > 1 else ""))
        before = tree_cpu(server) if server else None
        result = run_child(kind, config, maildir, count)
        row = Row(name, count, result["messages"], result["seconds"], result["cpu"], result["peak_rss_mb"],
                  server_cpu=tree_cpu(server) - before if server and before is not None else None,
                  load=os.getloadavg()[0], round=turn)
        row.rate = row.messages / row.seconds if row.seconds else 0.0
        if result.get("failed") or result.get("quarantined"):
            row.note = f"{result.get('quarantined', 0)} quarantined, {result.get('failed', 0)} failed"
        if row.messages != n:
            row.note = (row.note + "; " if row.note else "") + f"expected {n}"
        rows.append(row)
        log(f"  {row.messages} in {row.seconds:.1f}s = {row.rate:.0f} msg/s, {row.cpu:.1f} CPU s, "
            f"peak RSS {row.peak_rss_mb:.0f} MB, load {row.load:.1f} {row.note}")

    def maildir_run(tag: str, n: int) -> tuple[Path, Path]:
        run = work / tag
        maildir = run / "inbox"
        fill_maildir(maildir, corpus, n)
        return run, maildir

    def runs(n: int) -> list[int]:
        """Worker counts at size ``n``: one at every size (memory), N at the largest (throughput)."""
        return [1, workers] if n == sizes[-1] and workers > 1 else [1]

    def classify_only(n: int, turn: int = 1) -> None:
        run, maildir = maildir_run(f"classify-{n}-{turn}", n)
        config = write_config(run / "rm.toml", f"sqlite:///{run / 'unused.db'}", use_model,
                              {"name": "returns", "type": "maildir", "path": str(maildir)})
        measure("classify-only (in-process)", "classify", config, n, maildir=maildir, turn=turn)
        shutil.rmtree(run, ignore_errors=True)

    def maildir_drain(db_name: str, pg: object, n: int, count: int, turn: int = 1) -> None:
        run, maildir = maildir_run(f"{db_name}-{n}-{count}-{turn}", n)
        url, server = database(pg, run)
        config = write_config(run / "rm.toml", url, use_model,
                              {"name": "returns", "type": "maildir", "path": str(maildir)}, args.batch_size)
        measure(f"Maildir -> {db_name}", "drain" if count == 1 else "drain-n", config, n, count, server=server,
                turn=turn)
        shutil.rmtree(run, ignore_errors=True)

    def database(pg: object, run: Path) -> tuple[str, int | None]:
        if pg is None:
            return f"sqlite:///{run / 'var' / 'responsemaster.db'}", None
        return pg.create_database(), postmaster(pg)  # type: ignore[attr-defined]

    try:
        # 1. classify-only
        for n in sizes:
            classify_only(n)

        # 2. Maildir -> SQLite / PostgreSQL
        targets: list[tuple[str, object]] = [("SQLite", None)]
        if args.skip_postgres:
            notes.append("PostgreSQL: skipped (--skip-postgres)")
        else:
            cluster, why = start_postgres()
            if cluster is None:
                notes.append(f"PostgreSQL: skipped: {why}")
                print(f"note: PostgreSQL skipped: {why}", file=sys.stderr)
            else:
                targets.append(("PostgreSQL", cluster))

        if args.skip_maildir:
            notes.append("Maildir: skipped (--skip-maildir)")
        for db_name, pg in [] if args.skip_maildir else targets:
            for n in sizes:
                for count in runs(n):
                    maildir_drain(db_name, pg, n, count)

        # 3. Dovecot -> SQLite / PostgreSQL
        if args.skip_dovecot:
            notes.append("Dovecot (IMAP): skipped (--skip-dovecot)")
        else:
            from fixtures import dovecot as fx

            if fx.DOVECOT is None:
                why = "dovecot is not installed (Debian package dovecot-imapd)"
                notes.append(f"Dovecot (IMAP): skipped: {why}")
                print(f"note: Dovecot skipped: {why}", file=sys.stderr)
            else:
                dovecot = Dovecot()
                for db_name, pg in targets:
                    for n in sizes:
                        for count in runs(n):
                            run = work / f"imap-{db_name}-{n}-{count}"
                            run.mkdir()
                            user = dovecot.new_user()
                            log(f"APPENDing {n} messages to Dovecot (untimed)")
                            start = time.perf_counter()
                            stored = dovecot.append(user, messages_for(corpus, n))
                            log(f"  {stored} in the mailbox after {time.perf_counter() - start:.1f}s")
                            url, _db_server = database(pg, run)
                            source = {
                                "name": "imap", "type": "imap", "host": "127.0.0.1", "port": dovecot.port,
                                "user": user, "password": fx.PASSWORD, "tls": "none", "idle": False,
                            }
                            config = write_config(run / "rm.toml", url, use_model, source, args.batch_size)
                            measure(f"Dovecot (IMAP) -> {db_name}", "drain" if count == 1 else "drain-n", config, n,
                                    count, server=dovecot.process.pid)
                            shutil.rmtree(run, ignore_errors=True)

        # 4. more rounds at N (--rounds): only with Maildir drains to pair classify-only with
        for turn in range(2, 1 + (1 if args.skip_maildir else args.rounds)):
            classify_only(sizes[-1], turn)
            for db_name, pg in targets:
                maildir_drain(db_name, pg, sizes[-1], 1, turn)
    finally:
        if dovecot is not None:
            dovecot.stop()
        if cluster is not None:
            cluster.stop()
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    reference = {(r.messages, r.round): r for r in rows if r.reference}
    for row in rows:
        base = reference.get((row.messages, row.round))
        row.ratio = row.rate / base.rate if base and base.rate else None
        row.cpu_ratio = base.cpu / row.cpu if base and row.cpu else None

    from responsemaster.worker import WorkerOptions

    text = report(rows, notes, sizes, use_model, command, where, args.batch_size or WorkerOptions().batch_size)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


def postmaster(cluster: object) -> int | None:
    """The PostgreSQL server's process id (the first line of postmaster.pid)."""
    try:
        return int((cluster.data / "postmaster.pid").read_text().split()[0])  # type: ignore[attr-defined]
    except (OSError, ValueError, IndexError):
        return None


def report(
    rows: list[Row], notes: list[str], sizes: list[int], use_model: bool, command: str, where: str, batch: int
) -> str:
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {where}  ",
        f"Model: {'on (as shipped)' if use_model else 'off (--no-model)'}; sizes N/10 = {sizes[0]:,} and N = {sizes[-1]:,}",
        "",
        "| contender | workers | messages | seconds | msg/s | ratio to classify-only | CPU s | CPU ratio "
        "| server CPU s | peak RSS MB | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "n/a"
        name = r.contender + (f" (round {r.round})" if r.round > 1 else "")
        cpu_ratio = f"{r.cpu_ratio:.2f}" if r.cpu_ratio is not None else "n/a"
        server = f"{r.server_cpu:.1f}" if r.server_cpu is not None else "-"
        lines.append(
            f"| {name} | {r.workers} | {r.messages:,} | {r.seconds:.1f} | {r.rate:,.0f} | {ratio} | {r.cpu:.1f} "
            f"| {cpu_ratio} | {server} | {r.peak_rss_mb:.0f} | {r.load:.1f} |"
        )
    lines.append("")
    for note in notes:
        lines.append(f"- {note}")
    lines.append(
        "- ratio = msg/s over classify-only's msg/s at the same size (wall clock); CPU ratio = classify-only's "
        "CPU seconds over the contender's, all its worker processes together (so, per worker); server CPU = the "
        "PostgreSQL or Dovecot process tree's CPU seconds during the run (not in the CPU ratio); load avg = the "
        "1-minute load average at the end of the run"
    )
    for r in rows:
        if r.note:
            lines.append(f"- {r.contender}, {r.workers} worker(s), {r.messages:,}: {r.note}")
    lines += ["", "Against the targets (issue 13; measured at the sizes above):", ""]
    big = sizes[-1]
    for r in rows:
        if r.messages != big or r.reference or r.round > 1:
            continue
        if r.workers == 1 and r.cpu_ratio is not None and "Maildir" in r.contender:
            target = TARGET_RATIO_PG if "PostgreSQL" in r.contender else TARGET_RATIO
            pairs = [p.cpu_ratio for p in rows if p.contender == r.contender and p.workers == 1
                     and p.messages == big and p.cpu_ratio is not None]
            if len(pairs) > 1:
                middle = statistics.median(pairs)
                each = ", ".join(f"{p:.2f}" for p in pairs)
                met = "met" if middle >= target else "NOT met"
                lines.append(f"- {r.contender}, one worker: CPU ratio {middle:.2f}, the median of {len(pairs)} pairs "
                             f"run in turn ({each}; target ≥ {target}): {met}")
                continue
            met = "met" if r.cpu_ratio >= target else "NOT met"
            lines.append(f"- {r.contender}, one worker: CPU ratio {r.cpu_ratio:.2f} (target ≥ {target}): {met}")
        if r.workers > 1 and "Dovecot" in r.contender:
            met = "met" if r.rate >= TARGET_IMAP_RATE else "NOT met"
            lines.append(f"- {r.contender}, {r.workers} workers: {r.rate:,.0f} msg/s (target ≥ {TARGET_IMAP_RATE:.0f}/s): "
                         f"{met} (load average {r.load:.1f} at the end)")
    by_name: dict[str, dict[int, float]] = {}
    drains: set[str] = set()
    for r in rows:
        if r.workers == 1 and r.round == 1:
            by_name.setdefault(r.contender, {})[r.messages] = r.peak_rss_mb
            if not r.reference:
                drains.add(r.contender)
    for name, peaks in by_name.items():
        if len(peaks) >= 2:
            small, large = min(peaks), max(peaks)
            growth = peaks[large] - peaks[small]
            met = "flat" if growth < TARGET_GROWTH_MB else "NOT flat"
            if small < batch and name in drains:
                # A worker holds a batch: under one batch, the smaller run held fewer messages at once.
                met = f"{met}, but not the target's measure: {small:,} messages are under one batch of {batch:,}"
            lines.append(
                f"- {name}: peak RSS {peaks[small]:.0f} MB at {small:,} -> {peaks[large]:.0f} MB at "
                f"{large:,} (+{growth:.0f} MB; target < {TARGET_GROWTH_MB:.0f} MB growth): {met}"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

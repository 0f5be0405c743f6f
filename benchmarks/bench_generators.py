"""Benchmark key generators: keys/s and peak memory of `iter_keys` vs plain boto3 / os.scandir loops.

Usage: python benchmarks/bench_generators.py [--keys 100000] [--small 10000] [--markdown results/generators.md]

Every measurement runs in a fresh worker subprocess (clean RSS, no allocator reuse between contenders):
  * local:  a temp tree of files, nested (1000 files per directory) and flat (all in one directory);
  * s3-client: botocore talking to an in-process fake endpoint that replays pre-built ListObjectsV2 XML pages,
    so the numbers are the client-side cost (HTTP parsing + our code) without any server;
  * s3-moto: end to end against a moto server running in its own process (moto lists in O(bucket) per page,
    so this measures moto more than us; it proves the real wire path, pagination and memory).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
BUCKET_PREFIX = "bench-"
FAKE_ENDPOINT = "http://s3-replay.invalid"
PAGE = 1000
NOTES = "## Notes"


# ----------------------------------------------------------------------------------------------- measuring


class RssSampler:
    """Peak RSS growth of this process while the `with` block runs (psutil, sampled every 2 ms)."""

    def __init__(self) -> None:
        """Prepare the sampler; nothing is measured until entered."""
        import psutil

        self._proc = psutil.Process()
        self._stop = threading.Event()
        self.base = 0
        self.peak = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(0.002)

    def __enter__(self) -> RssSampler:
        """Record the baseline RSS and start sampling."""
        self.base = self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop sampling, taking one last sample."""
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def delta(self) -> int:
        """Peak RSS minus the RSS at entry, in bytes."""
        return self.peak - self.base


def memory(run: Callable[[], int], expected: int) -> dict[str, Any]:
    """Peak RSS growth of one pass, then tracemalloc's peak over another pass."""
    with RssSampler() as rss:
        count = run()
    assert count == expected, (count, expected)
    tracemalloc.start()
    try:
        count = run()
        traced_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == expected, (count, expected)
    return {"rss_delta": rss.delta, "traced_peak": traced_peak}


def interleaved(
    contenders: dict[str, Callable[[], int]], expected: int, repeat: int, warm: bool = True
) -> dict[str, float]:
    """keys/s of each contender: a warm-up pass each (if `warm`), then `repeat` rounds taking turns; best kept."""
    best = dict.fromkeys(contenders, float("inf"))
    for name, run in contenders.items():
        if warm:
            assert run() == expected, name
    for _ in range(repeat):
        for name, run in contenders.items():
            start = time.perf_counter()
            count = run()
            best[name] = min(best[name], time.perf_counter() - start)
            assert count == expected, (name, count, expected)
    return {name: expected / seconds for name, seconds in best.items()}


def timed_with_rss(run: Callable[[], int], expected: int) -> dict[str, Any]:
    """One pass measuring time and RSS together (for slow end-to-end runs)."""
    with RssSampler() as rss:
        start = time.perf_counter()
        count = run()
        seconds = time.perf_counter() - start
    assert count == expected, (count, expected)
    return {"seconds": seconds, "rate": expected / seconds, "rss_delta": rss.delta}


# ----------------------------------------------------------------------------------------------- contenders


def local_ours(root: str) -> int:
    """Count KeyInfos from LocalKeyGenerator.iter_keys (recursive, sorted, size + mtime)."""
    from pypeline.generators import LocalKeyGenerator

    n = 0
    for _info in LocalKeyGenerator().iter_keys(root):
        n += 1
    return n


def local_plain(root: str, with_stat: bool = True, with_datetime: bool = False) -> int:
    """A plain recursive os.scandir loop (unsorted); with_stat reads size + mtime, with_datetime converts it."""
    n = 0
    stack = [root]
    utc = timezone.utc
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file():
                    if with_stat:
                        st = entry.stat()
                        _size, _mtime = st.st_size, st.st_mtime
                        if with_datetime:
                            _modified = datetime.fromtimestamp(_mtime, utc)
                    n += 1
    return n


def s3_plain(client: Any, bucket: str) -> int:
    """A plain boto3 list_objects_v2 paginator loop reading Key, Size and LastModified."""
    n = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=""):
        for obj in page.get("Contents", ()):
            _key, _size, _modified = obj["Key"], obj["Size"], obj["LastModified"]
            n += 1
    return n


def s3_ours(generator: Any, bucket: str) -> int:
    """Count KeyInfos from S3KeyGenerator.iter_keys."""
    n = 0
    for _info in generator.iter_keys(bucket):
        n += 1
    return n


def plain_client(endpoint: str) -> Any:
    """The boto3 client a plain loop would use (path-style, like ours with a custom endpoint)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", region_name="us-east-1", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}), **CREDS
    )


def s3_keys(n: int) -> list[str]:
    """n keys over 10 x 100 prefixes, sorted like S3 returns them."""
    return sorted(f"p{i % 10}/d{(i // 10) % 100:02d}/k{i:07d}.dat" for i in range(n))


# ----------------------------------------------------------------------------------------------- replayed S3


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        """The whole body in one chunk, like urllib3's stream()."""
        yield self._body


def build_pages(bucket: str, n: int) -> list[bytes]:
    """ListObjectsV2 XML bodies for n keys, PAGE keys a page; the continuation token is the page number."""
    keys = s3_keys(n)
    pages = []
    for number, start in enumerate(range(0, max(n, 1), PAGE)):
        chunk = keys[start : start + PAGE]
        truncated = start + PAGE < n
        contents = "".join(
            f"<Contents><Key>{key}</Key><LastModified>2024-05-01T12:00:00.000Z</LastModified>"
            f'<ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>{len(key) * 7}</Size>'
            "<StorageClass>STANDARD</StorageClass></Contents>"
            for key in chunk
        )
        token = f"<NextContinuationToken>{number + 1}</NextContinuationToken>" if truncated else ""
        pages.append(
            (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<Name>{bucket}</Name><Prefix></Prefix><KeyCount>{len(chunk)}</KeyCount><MaxKeys>{PAGE}</MaxKeys>"
                f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>{contents}{token}</ListBucketResult>"
            ).encode()
        )
    return pages


def replay(client: Any, box: dict[str, list[bytes]]) -> None:
    """Answer the client's ListObjectsV2 calls from `box["pages"]` instead of the network."""
    from urllib.parse import parse_qs, urlsplit

    from botocore.awsrequest import AWSResponse

    def send(request: Any, **_: Any) -> AWSResponse:
        """The page named by the request's continuation token."""
        token = parse_qs(urlsplit(request.url).query).get("continuation-token", ["0"])[0]
        return AWSResponse(request.url, 200, {"Content-Type": "application/xml"}, _Raw(box["pages"][int(token)]))

    client.meta.events.register("before-send.s3.ListObjectsV2", send)


# ----------------------------------------------------------------------------------------------- workers


PLAIN_LOCAL = "plain os.scandir + stat"
PLAIN_S3 = "plain boto3 paginator"
OURS = "pypeline iter_keys"


def local_contenders(root: str) -> dict[str, Callable[[], int]]:
    """Local contenders, the reference (plain) first."""
    return {
        PLAIN_LOCAL: lambda: local_plain(root),
        OURS: lambda: local_ours(root),
        "plain os.scandir + stat + datetime": lambda: local_plain(root, with_datetime=True),
        "plain os.scandir, no stat": lambda: local_plain(root, with_stat=False),
    }


def s3client_contenders(n: int) -> dict[str, Callable[[], int]]:
    """Replayed-S3 contenders (plain first), their clients warmed up outside any measurement."""
    from pypeline.generators import S3KeyGenerator

    bucket = f"{BUCKET_PREFIX}{n}"
    pages, warm_pages = build_pages(bucket, n), build_pages("warm", 10)
    gen = S3KeyGenerator(**CREDS, endpoint_url=FAKE_ENDPOINT)
    client = plain_client(FAKE_ENDPOINT)
    for c in (client, gen.client):
        box = {"pages": warm_pages}
        replay(c, box)
        s3_plain(c, "warm")  # loads service models and parsers
        box["pages"] = pages
    return {PLAIN_S3: lambda: s3_plain(client, bucket), OURS: lambda: s3_ours(gen, bucket)}


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Run one measurement in this (fresh) process and return its numbers."""
    kind, n = args.worker, args.n
    if kind == "timing-local":
        return interleaved(local_contenders(args.root), n, args.repeat)
    if kind == "timing-s3client":
        return interleaved(s3client_contenders(n), n, args.repeat, warm=False)  # clients warmed on a tiny listing
    if kind.startswith("memory-"):
        source, who = kind.removeprefix("memory-").split(":", 1)
        if source == "local":
            with tempfile.TemporaryDirectory() as tiny:  # warm-up: imports and first-call costs stay out
                for i in range(3):
                    Path(tiny, f"f{i}").write_bytes(b"x")
                assert local_contenders(tiny)[who]() == 3
            run = local_contenders(args.root)[who]
        else:
            run = s3client_contenders(n)[who]  # its clients are warmed up on a tiny listing
        return memory(run, n)
    from pypeline.generators import S3KeyGenerator

    bucket, warm_bucket = f"{BUCKET_PREFIX}{n}", f"{BUCKET_PREFIX}warm"
    if kind == "moto:" + OURS:
        gen = S3KeyGenerator(**CREDS, endpoint_url=args.endpoint)
        run, warm = (lambda: s3_ours(gen, bucket)), (lambda: s3_ours(gen, warm_bucket))
    else:
        client = plain_client(args.endpoint)
        run, warm = (lambda: s3_plain(client, bucket)), (lambda: s3_plain(client, warm_bucket))
    warm()
    return timed_with_rss(run, n)


def spawn(kind: str, n: int, repeat: int, **extra: str) -> dict[str, Any]:
    """Run a worker subprocess and parse its JSON answer."""
    cmd = [sys.executable, __file__, "--worker", kind, "--n", str(n), "--repeat", str(repeat)]
    for key, value in extra.items():
        cmd += [f"--{key.replace('_', '-')}"] + ([value] if value else [])  # "" means a bare flag
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------- data


def settle() -> None:
    """Flush freshly written files so background writeback does not disturb the timings."""
    if hasattr(os, "sync"):
        os.sync()
    time.sleep(1.0)


def make_tree(root: Path, n: int, per_dir: int) -> None:
    """n small files, `per_dir` per directory (one directory when per_dir >= n)."""
    for i in range(n):
        directory = root / f"d{i // per_dir:04d}" if per_dir < n else root
        if i % per_dir == 0:
            directory.mkdir(parents=True, exist_ok=True)
        with open(directory / f"f{i:07d}.dat", "wb") as handle:
            handle.write(b"x" * (i % 7))


MOTO_CHILD = r"""
import logging, sys
logging.getLogger("werkzeug").setLevel(logging.ERROR)
import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer
sys.path.insert(0, sys.argv[1])
from bench_generators import CREDS, s3_keys
try:  # moto re-lists and re-sorts the whole bucket for every page: memoise that per bucket state
    from moto.s3.models import S3Backend
    _list_objects, _memo = S3Backend.list_objects, {}
    def list_objects(self, bucket, prefix, delimiter, marker, max_keys):
        if marker is not None or max_keys is not None:
            return _list_objects(self, bucket, prefix, delimiter, marker, max_keys)
        state = (bucket.name, prefix, delimiter, len(bucket.keys))
        if state not in _memo:
            _memo[state] = _list_objects(self, bucket, prefix, delimiter, marker, max_keys)
        return _memo[state]
    S3Backend.list_objects = list_objects
except Exception as exc:
    print("moto listing left unpatched:", exc, file=sys.stderr)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
endpoint = f"http://{host}:{port}"
client = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint, **CREDS)
backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
for spec in sys.argv[2:]:
    name, n = spec.split(":")
    client.create_bucket(Bucket=name)
    for key in s3_keys(int(n)):
        backend.put_object(name, key, b"")
print(endpoint, flush=True)
sys.stdin.read()
server.stop()
"""


# ----------------------------------------------------------------------------------------------- report


@dataclass
class Row:
    """One line of the results table."""

    source: str
    keys: int
    impl: str
    numbers: dict[str, Any]
    ratio: float | None = None


def mib(value: int | None) -> str:
    """Bytes as MiB with two decimals."""
    return "-" if value is None else f"{value / 2**20:.2f}"


def table(rows: list[Row]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| source | keys | implementation | keys/s | vs plain | tracemalloc peak MiB | RSS growth MiB |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        rate = r.numbers.get("rate")
        lines.append(
            f"| {r.source} | {r.keys:,} | {r.impl} | {'-' if rate is None else f'{rate:,.0f}'} | "
            f"{'' if r.ratio is None else f'{r.ratio:.2f}x'} | {mib(r.numbers.get('traced_peak'))} | "
            f"{mib(r.numbers.get('rss_delta'))} |"
        )
    return "\n".join(lines)


def machine() -> str:
    """uname -a, nproc, date, versions."""
    import boto3
    import botocore
    import moto

    uname = " ".join(platform.uname())
    try:
        uname = subprocess.run(["uname", "-a"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return "\n".join(
        [
            f"- `uname -a`: `{uname}`",
            f"- `nproc`: {nproc}",
            f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')}",
            f"- Python {platform.python_version()}, boto3 {boto3.__version__}, botocore {botocore.__version__}, "
            f"moto {moto.__version__}",
        ]
    )


def verdicts(rows: list[Row], big: int, small: int) -> list[str]:
    """Automatic checks: ratio >= 0.8 and memory flat between the two sizes."""
    out = []
    for r in rows:
        if r.ratio is not None and r.impl == "pypeline iter_keys":
            ok = "OK" if r.ratio >= 0.8 else "BELOW TARGET"
            out.append(f"- {r.source}, {r.keys:,} keys: {r.ratio:.2f}x the plain loop's rate ({ok}, target >= 0.8x)")
    ours = {(r.source, r.keys): r.numbers for r in rows if r.impl == "pypeline iter_keys"}
    for source in dict.fromkeys(s for s, _ in ours):
        a, b = ours.get((source, small)), ours.get((source, big))
        if a and b and a.get("traced_peak") and b.get("traced_peak"):
            growth = b["traced_peak"] / a["traced_peak"]
            out.append(
                f"- {source}: tracemalloc peak {mib(a['traced_peak'])} MiB at {small:,} keys vs "
                f"{mib(b['traced_peak'])} MiB at {big:,} keys ({growth:.2f}x for {big / small:.0f}x the keys)"
            )
    return out


def ratio_summary(rows: list[Row], sizes: list[int]) -> str:
    """One line per source: our rate / the plain loop's rate at every size, side by side (target >= 0.8x)."""
    ratios: dict[str, dict[int, float]] = {}
    for r in rows:
        if r.ratio is not None and r.impl == OURS:
            ratios.setdefault(r.source, {})[r.keys] = r.ratio
    head = "| iter_keys / plain loop | " + " | ".join(f"{n:,} keys" for n in sizes) + " | target |"
    lines = [head, "|---|" + "---:|" * len(sizes) + "---|"]
    for source, by_size in ratios.items():
        cells = " | ".join(f"{by_size[n]:.2f}x" if n in by_size else "-" for n in sizes)
        met = all(by_size.get(n, 0.0) >= 0.8 for n in sizes)
        lines.append(f"| {source} | {cells} | >= 0.8x: {'met' if met else '**not met**'} |")
    return "\n".join(lines)


def main() -> int:
    """Parse arguments; run as orchestrator or as a worker."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=100_000, help="keys for the large runs (default 100000)")
    parser.add_argument("--small", type=int, default=10_000, help="keys for the memory-scaling runs (default 10000)")
    parser.add_argument("--repeat", type=int, default=5, help="timing rounds (contenders take turns); best kept")
    parser.add_argument("--s3-repeat", type=int, default=2, help="timing rounds for the replayed-S3 runs")
    parser.add_argument("--skip-moto", action="store_true", help="skip the end-to-end moto server runs")
    parser.add_argument("--local-only", action="store_true", help="only the local-folder runs (no S3 at all)")
    parser.add_argument("--markdown", type=Path, help="also write the report to this Markdown file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return 0

    started = time.perf_counter()
    sizes = [args.small, args.keys]
    rows: list[Row] = []

    def add(source: str, n: int, rates: dict[str, float], mem: dict[str, dict[str, Any]]) -> None:
        """Append one group of rows (ratios against the group's first contender) and echo them."""
        names = list(rates) or list(mem)
        reference = rates.get(names[0])
        for name in names:
            numbers = {**mem.get(name, {}), **({"rate": rates[name]} if name in rates else {})}
            ratio = rates[name] / reference if reference and name in rates else None
            rows.append(Row(source, n, name, numbers, ratio))
        print("\n".join(table(rows[-len(names) :]).splitlines()[2:]), flush=True)

    def mem_of(source: str, n: int, who: list[str], **extra: str) -> dict[str, dict[str, Any]]:
        """Memory numbers of each named contender, each from its own fresh worker."""
        return {name: spawn(f"memory-{source}:{name}", n, 1, **extra) for name in who}

    tmp = Path(tempfile.mkdtemp(prefix="bench-generators-"))
    try:
        for n in sizes:
            nested, flat = tmp / f"nested-{n}", tmp / f"flat-{n}"
            make_tree(nested, n, 1000)
            make_tree(flat, n, n)
            settle()
            rates = spawn("timing-local", n, args.repeat, root=str(nested))
            add("local, 1000 files/dir", n, rates, mem_of("local", n, [PLAIN_LOCAL, OURS], root=str(nested)))
            add("local, one flat dir", n, {}, mem_of("local", n, [PLAIN_LOCAL, OURS], root=str(flat)))
            shutil.rmtree(nested)
            shutil.rmtree(flat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    for n in sizes if not args.local_only else ():
        rates = spawn("timing-s3client", n, args.s3_repeat)
        add("s3 client-side (replayed pages)", n, rates, mem_of("s3client", n, [PLAIN_S3, OURS]))

    if not args.skip_moto and not args.local_only:
        specs = [f"{BUCKET_PREFIX}warm:10"] + [f"{BUCKET_PREFIX}{n}:{n}" for n in sizes]
        child = subprocess.Popen(
            [sys.executable, "-c", MOTO_CHILD, str(Path(__file__).parent), *specs],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            endpoint = child.stdout.readline().strip()
            for n in sizes:
                runs = {name: spawn(f"moto:{name}", n, 1, endpoint=endpoint) for name in (PLAIN_S3, OURS)}
                rates = {name: nums.pop("rate") for name, nums in runs.items()}
                add("s3 end-to-end (moto server)", n, rates, runs)
        finally:
            assert child.stdin is not None
            child.stdin.close()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()

    elapsed = time.perf_counter() - started
    checks = verdicts(rows, args.keys, args.small)
    summary = ratio_summary(rows, sizes)
    report = "\n".join([table(rows), "", summary, "", *checks, "", f"Total benchmark time: {elapsed:.0f} s"])
    print("\n" + report)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        notes = ""
        if args.markdown.exists():  # keep the hand-written analysis across re-runs
            previous = args.markdown.read_text()
            notes = previous[previous.index(NOTES) :] if NOTES in previous else ""
        args.markdown.write_text(render(args, report) + ("\n" + notes if notes else ""))
        print(f"wrote {args.markdown}")
    return 0


def render(args: argparse.Namespace, report: str) -> str:
    """The Markdown results file."""
    cmd = (
        f"python benchmarks/bench_generators.py --keys {args.keys} --small {args.small} --repeat {args.repeat} "
        f"--s3-repeat {args.s3_repeat}"
    )
    return "\n".join(
        [
            "# Key generator benchmark",
            "",
            f"Command: `{cmd}{' --skip-moto' if args.skip_moto else ''} --markdown benchmarks/results/generators.md`",
            "",
            "## Machine",
            "",
            machine(),
            "",
            "## Results",
            "",
            "keys/s: contenders of a group take turns in one worker process, best round kept (moto rows: one",
            "pass each). *vs plain* compares with the group's first (plain) row. Memory: each contender lists",
            "once more in its own fresh process; tracemalloc peak counts Python allocations during one full",
            "listing, RSS growth is the sampled (2 ms) peak resident-set growth during one listing. Flat-dir",
            "rows only measure memory.",
            "",
            report,
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())

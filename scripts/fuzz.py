"""Run the facecanvas CLI on every case of the bad-input corpus (tests/fuzz/corpus.py) and check what the
README promises.

For each case, in a folder of its own: the exit code is one the case allows; stderr has no traceback and
every line is a facecanvas line (one-line messages: a name with a newline must not split one); the error
line names the file; every file that was there before is unchanged (inputs, and outputs that must not be
replaced); nothing else appeared (no hidden .tmp/.part file, no folder named like an output); the run
ends within its time limit (a hang is killed); peak memory stays under the limit.

    .venv/bin/python scripts/fuzz.py                 # long mode: every case, mutations included
    .venv/bin/python scripts/fuzz.py --mode short    # the quick subset (also run by tests/fuzz/test_fuzz_short.py)
    .venv/bin/python scripts/fuzz.py --json report.json --keep /tmp/fuzz

Exit status: 0 when every case passed (cases marked ``known``, fixed elsewhere, are reported apart).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO / "tests")]

from fuzz.corpus import Case, build  # noqa: E402

MEM_LIMIT_MB = 3000  # a whole erase run peaks at 270-740 MB (README); /dev/zero read whole: ~5 GB
# Lines a run may print besides its one-line error: progress and the summaries of batch, deid and the
# batch runner (their indented detail lines too). A traceback is caught on its own.
INFO_PREFIXES = ("facecanvas", "done:", "live:", "batch:", "deid:", "model loads:", "  ")
TQDM_LINE = re.compile(r"^\s*\d+%\|")  # a progress bar (batches draw one even when stderr is no terminal)


@dataclass
class Result:
    name: str
    exit: int | None
    seconds: float
    peak_mb: float
    problems: list = field(default_factory=list)
    known: str | None = None
    stderr_tail: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def _snapshot(folder: Path) -> dict[bytes, str]:
    """Every entry under ``folder`` -> a fingerprint; regular files by content, nothing is ever opened
    that could block (pipes) or never end (devices behind symlinks)."""
    out: dict[bytes, str] = {}
    root = os.fsencode(folder)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode):
                h = hashlib.sha256()
                with open(full, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                out[rel] = "file:" + h.hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = "link:" + os.fsdecode(os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = "dir"
            else:
                out[rel] = f"special:{stat.S_IFMT(st.st_mode)}"
    return out


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _mapped(pid: int, needle: str) -> bool:
    try:
        with open(f"/proc/{pid}/maps") as f:
            return any(needle in line for line in f)
    except OSError:
        return False


def _wait_for_part(folder: Path, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(p.name.startswith(".") and ".part" in p.name for p in folder.iterdir()):
            return True
        time.sleep(0.05)
    return False


def run_case(case: Case, folder: Path) -> Result:
    folder.mkdir(parents=True)
    if case.setup is not None:
        case.setup(folder)
    before = _snapshot(folder)
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), PYTHONDONTWRITEBYTECODE="1")
    argv = [sys.executable, "-m", "facecanvas.cli.main", *[a if isinstance(a, bytes) else str(a) for a in case.argv]]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    streams = {"out": b"", "err": b""}

    def drain(key, f):
        streams[key] = f.read()

    readers = [threading.Thread(target=drain, args=(k, f), daemon=True) for k, f in (("out", p.stdout), ("err", p.stderr))]
    for r in readers:
        r.start()
    problems: list[str] = []
    peak = 0.0
    sent = False
    code = None
    rusage = None
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            p.returncode = code
            rusage = ru
            break
        elapsed = time.monotonic() - t0
        peak = max(peak, _rss_mb(p.pid))
        if peak > MEM_LIMIT_MB:
            problems.append(f"memory: over {MEM_LIMIT_MB} MB, killed")
            os.killpg(p.pid, signal.SIGKILL)
        elif elapsed > case.timeout:
            problems.append(f"hang: still running after {case.timeout:.0f} s, killed")
            os.killpg(p.pid, signal.SIGKILL)
        if case.signal is not None and not sent:
            name, when = case.signal
            if isinstance(when, str) and when.startswith("maps:"):
                # Once a library loaded only by the command imports is mapped: start-up, past the package.
                if _mapped(p.pid, when[5:]):
                    os.kill(p.pid, getattr(signal, name))
                    sent = True
            elif isinstance(when, str) and when.startswith("after:"):
                if _wait_for_part(folder, 0.05):
                    time.sleep(float(when.split(":")[1]))
                    os.kill(p.pid, getattr(signal, name))
                    sent = True
            elif elapsed >= float(when):
                os.kill(p.pid, getattr(signal, name))
                sent = True
        time.sleep(0.02)
    seconds = time.monotonic() - t0
    for r in readers:
        r.join(5)
    if rusage is not None:
        peak = max(peak, rusage.ru_maxrss / 1024)  # Linux: kilobytes
    err = streams["err"].decode("utf-8", "backslashreplace")
    after = _snapshot(folder)

    if code not in case.expect:
        problems.append(f"exit code {code}, expected {sorted(case.expect)}")
    if "Traceback" in err:
        problems.append("traceback")
    lines = [line for line in err.splitlines() if line.strip()]
    odd = [line for line in lines if not line.startswith(INFO_PREFIXES) and " -> " not in line
           and not TQDM_LINE.match(line)]
    if odd:
        problems.append(f"a stderr line that is not a facecanvas line (split message?): {odd[0][:120]!r}")
    if code not in (0, None) and case.mention:
        if not any(case.mention in line for line in lines if line.startswith("facecanvas")):
            problems.append(f"no facecanvas line names {case.mention!r}")
    allowed = {os.fsencode(o) for o in case.outputs}
    allowed |= {os.path.dirname(a) for a in allowed if os.path.dirname(a)}
    for rel, fp in before.items():
        if rel in allowed:
            continue
        if after.get(rel) != fp:
            problems.append(f"input modified or removed: {os.fsdecode(rel)!r}")
    for rel in sorted(set(after) - set(before) - allowed):
        name = os.fsdecode(rel)
        if not any(fnmatch.fnmatch(name, pat) for pat in case.extra_ok):
            problems.append(f"stray file: {name!r}")
    for rel in case.must_exist:
        if os.fsencode(rel) not in after:
            problems.append(f"missing output: {os.fsdecode(rel)!r}")
    for rel in case.must_not_exist:
        if after.get(os.fsencode(rel), "").startswith(("file", "dir")) and os.fsencode(rel) not in before:
            problems.append(f"written although it must not be: {os.fsdecode(rel)!r}")
    if case.signal is not None and not sent:
        problems.append("the signal was never sent (the run ended first)")
    return Result(case.name, code, round(seconds, 2), round(peak, 1), problems, case.known, "\n".join(lines[-3:]))


def run(mode: str = "short", budget_s: float | None = None, keep: Path | None = None,
        only: str | None = None, log=print) -> dict:
    work = Path(tempfile.mkdtemp(prefix="facecanvas-fuzz-", dir=keep))
    cases = build(work, mode)
    if only:
        cases = [c for c in cases if fnmatch.fnmatch(c.name, only)]
    results: list[Result] = []
    t0 = time.monotonic()
    for i, case in enumerate(cases):
        if budget_s is not None and time.monotonic() - t0 > budget_s:
            log(f"budget of {budget_s:.0f} s spent: {len(cases) - i} cases not run")
            break
        r = run_case(case, work / f"{i:03d}-{case.name}")
        results.append(r)
        flag = "ok" if r.ok else ("KNOWN" if r.known else "FAIL")
        log(f"{flag:5} {r.name:34} exit {r.exit!s:4} {r.seconds:6.1f} s {r.peak_mb:7.0f} MB"
            + (f"  {'; '.join(r.problems)}" if r.problems else ""))
    failed = [r for r in results if r.problems and not r.known]
    known = [r for r in results if r.problems and r.known]
    count = lambda word: sum(any(word in p for p in r.problems) for r in results)  # noqa: E731
    summary = {
        "mode": mode, "cases_tried": len(results), "cases_in_corpus": len(cases),
        "failed": len(failed), "known_open": len(known), "passed": sum(r.ok for r in results),
        "tracebacks": count("traceback"), "wrong_exit_codes": count("exit code"),
        "inputs_modified": count("input modified"), "stray_files": count("stray file"),
        "hangs": count("hang"), "memory_over_limit": count("memory"),
        "message_problems": count("names") + count("not a facecanvas line"),
        "peak_memory_mb": max((r.peak_mb for r in results), default=0.0),
        "seconds": round(time.monotonic() - t0, 1),
        "results": [asdict(r) for r in results],
    }
    if keep is None:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("short", "long"), default="long")
    ap.add_argument("--budget", type=float, default=None, metavar="S", help="stop starting cases after S seconds")
    ap.add_argument("--only", default=None, metavar="GLOB", help="only the cases whose name matches")
    ap.add_argument("--keep", type=Path, default=None, metavar="DIR", help="keep the case folders under DIR")
    ap.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the full report here")
    args = ap.parse_args()
    s = run(args.mode, args.budget, args.keep, args.only)
    figures = {k: v for k, v in s.items() if k != "results"}
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(s, indent=1))
    return 1 if s["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

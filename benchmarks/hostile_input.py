"""Hostile job files: time and peak memory to refuse each, side by side with the figures the issue
reported before the fix (issue 10, item 3). Each case runs in a fresh process so its peak RSS is its own.

    .venv/bin/python benchmarks/hostile_input.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = {
    "alias bomb (457 bytes, 9 levels x 9)": ("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)),
        "312 MB error message, 1.24 GB memory"),
    "5 MB command": ("command: " + "${{ " * 1_300_000 + "\n", "minutes (quadratic)"),
    "64 Ki-character command of '${{ ' (just under the cap)": ("command: python t.py " + "${{ " * 16_000 + "\n",
                                                               "—"),
    "10,000-deep nesting": ("tags: " + "[" * 10_000 + "]" * 10_000 + "\n", "RecursionError traceback"),
}

PROBE = r"""
import json, resource, sys, time
from trainyard.jobspec import parse_job_file
from trainyard.errors import JobSpecError
t = time.perf_counter()
try:
    parse_job_file(sys.argv[1]); msg = "parsed"
except JobSpecError as exc:
    msg = str(exc)
print(json.dumps({"seconds": time.perf_counter() - t, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "message_bytes": len(msg), "message": msg.split(": ", 1)[-1][:70]}))
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "src").mkdir()
        (Path(tmp) / "src" / "t.py").write_text("")
        print(f"{'case':<52} {'before the fix':<38} {'now: time':>10} {'peak RSS':>9} {'error bytes':>11}  message")
        for name, (text, before) in CASES.items():
            job = Path(tmp) / "job.yml"
            job.write_text("code: src\n" + text)
            out = subprocess.run([sys.executable, "-c", PROBE, str(job)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout)
            print(f"{name:<52} {before:<38} {r['seconds'] * 1000:>8.1f}ms {r['rss_mb']:>7.0f}MB {r['message_bytes']:>11}  "
                  f"{r['message']}")


if __name__ == "__main__":
    main()

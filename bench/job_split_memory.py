"""Peak memory of `cortex-s2i job render` splitting NDJSON inputs of growing size.

For each size it writes an NDJSON file of about that many bytes into a temporary folder, splits it
with `job render` (into a volume claim's layout, as a split that big needs), and reports the
command's peak resident memory (the child's ru_maxrss) and time. The temporary folder is removed
afterwards, whatever happened. A splitter that streams keeps the same peak for every size.

Usage (from the repository root, after `npx tsc`): python3 bench/job_split_memory.py [MB ...]
Prints a table and writes bench/results/job-split.json. Default sizes: 10 and 1024 MB.
"""

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "bin", "cortex-s2i.js")
LINE_BYTES = 1024
BATCH_SIZE = 1000


def write_input(path, megabytes):
    """About `megabytes` MiB of NDJSON, lines of LINE_BYTES bytes, written a block at a time."""
    pad = "x" * (LINE_BYTES - 40)
    block = "".join('{"id": %9d, "text": "%s"}\n' % (i, pad[: LINE_BYTES - 33])
                    for i in range(1024)).encode()
    lines = 0
    with open(path, "wb") as handle:
        for _ in range(max(1, megabytes * 1024 * 1024 // len(block))):
            handle.write(block)
            lines += 1024
    return lines


def measure(work, megabytes):
    data = os.path.join(work, "input-%dmb.ndjson" % megabytes)
    lines = write_input(data, megabytes)
    job = os.path.join(work, "job-%dmb.json" % megabytes)
    with open(job, "w") as handle:
        json.dump({"workers": 4, "delimited_files": {"paths": [data], "batch_size": BATCH_SIZE}},
                  handle)
    input_bytes = os.path.getsize(data)
    started = time.monotonic()
    child = subprocess.Popen(["node", CLI, "job", "render", "bench-image", job,
                              "--split-claim", "bench", "--out", os.path.join(work, "out-%dmb" % megabytes),
                              "--id", "bench-%dmb" % megabytes],
                             cwd=work, stdout=subprocess.DEVNULL)
    # wait4 gives this one child's own peak (ru_maxrss, KiB), not the largest of all children.
    _, exit_status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(exit_status)
    seconds = time.monotonic() - started
    if child.returncode != 0:
        raise SystemExit("job render failed with status %d" % child.returncode)
    shutil.rmtree(os.path.join(work, "out-%dmb" % megabytes))
    os.remove(data)
    return {"input_bytes": input_bytes, "lines": lines, "batches": -(-lines // BATCH_SIZE),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "seconds": round(seconds, 2)}


def main(argv):
    sizes = sorted(int(a) for a in argv) or [10, 1024]
    work = tempfile.mkdtemp(prefix="cortex-s2i-bench-job-")
    rows = []
    try:
        for mb in sizes:
            rows.append(dict(size_mb=mb, **measure(work, mb)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%8s %12s %9s %14s %9s" % ("input", "lines", "batches", "peak RSS", "time"))
    for r in rows:
        print("%6d MB %12d %9d %10.1f MiB %8.1fs"
              % (r["size_mb"], r["lines"], r["batches"], r["peak_rss_mib"], r["seconds"]))
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    out = os.path.join(ROOT, "bench", "results", "job-split.json")
    with open(out, "w") as handle:
        json.dump({"line_bytes": LINE_BYTES, "batch_size": BATCH_SIZE, "runs": rows,
                   "machine": {"cpus": os.cpu_count(), "system": platform.platform()}},
                  handle, indent=2)
        handle.write("\n")
    print("wrote %s" % os.path.relpath(out, ROOT))


if __name__ == "__main__":
    main(sys.argv[1:])

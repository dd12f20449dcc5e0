"""Prints bench/serve.sh's figures as a table of ratios against the limit, and writes JSON.

Each server's row is its median round by throughput; every round is in the JSON under "runs".
Each target compares a figure of one row with the same figure of another row from the same run
(alternating rounds), and says the ratio round by round too: ratios, never absolute times, are
what carries over from one machine to another.

Usage: report.py <runs.jsonl> <output.json> --requests N --connections N --route R
                 --ready-times FILE --image-bytes N --base IMAGE --base-bytes N
                 --load-before "1m 5m 15m" --load-after "1m 5m 15m"
"""

import argparse
import json
import os
import platform
import statistics

SERVERS = ("limit-uvicorn", "ours-identity", "ours-example", "flask-dev")
# (row, compared with, figure, bound, "at least" or "at most"): ours against the bare echo on the
# same stack (the limit), and ours with the example's model against what older tooling served.
TARGETS = (
    ("ours-identity", "limit-uvicorn", "requests_per_second", 0.75, "at least"),
    ("ours-identity", "limit-uvicorn", "cpu_us_per_request", 1.4, "at most"),
    ("ours-identity", "limit-uvicorn", "p99_ms", 2.0, "at most"),
    ("ours-example", "flask-dev", "requests_per_second", 4.0, "at least"),
)
READY_SECONDS = 2.5


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle
                          if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "system": platform.platform()}


def summary(run):
    load = run["load"]
    memory = run["memory_bytes"]
    seconds = load["duration_us"] / 1e6
    return {
        "server": run["server"],
        "round": run.get("round"),
        "cpu_us_per_request": round(run["cpu_us"] / load["requests"]) if load["requests"] else None,
        "requests": load["requests"],
        "seconds": round(seconds, 2),
        "requests_per_second": round(load["requests"] / seconds, 1),
        "p50_ms": round(load["latency_us"]["p50"] / 1000, 2),
        "p90_ms": round(load["latency_us"]["p90"] / 1000, 2),
        "p99_ms": round(load["latency_us"]["p99"] / 1000, 2),
        "max_ms": round(load["latency_us"]["max"] / 1000, 2),
        "errors": sum(load["errors"].values()),
        "error_kinds": load["errors"],
        "memory_mib": {key: round(value / 2 ** 20, 1) for key, value in memory.items()},
        # Growth under load, from the warmed-up server (allocations made once, by the first
        # requests, are not growth).
        "memory_growth_pct": round(100 * (memory["after"] / memory["warmed_up"] - 1), 1),
    }


def ratio(mine, other):
    return round(mine / other, 2) if mine and other else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("runs")
    parser.add_argument("output")
    parser.add_argument("--requests", type=int)
    parser.add_argument("--connections", type=int)
    parser.add_argument("--route")
    parser.add_argument("--ready-times")
    parser.add_argument("--image-bytes", type=int)
    parser.add_argument("--base")
    parser.add_argument("--base-bytes", type=int)
    parser.add_argument("--load-before", default="")
    parser.add_argument("--load-after", default="")
    args = parser.parse_args()
    with open(args.runs) as handle:
        runs = [summary(json.loads(line)) for line in handle if line.strip()]
    rows = []
    for name in SERVERS:
        mine = sorted((run for run in runs if run["server"] == name),
                      key=lambda run: run["requests_per_second"])
        if not mine:
            continue
        median = dict(mine[len(mine) // 2])
        for figure in ("requests_per_second", "cpu_us_per_request", "p99_ms"):
            values = [run[figure] for run in mine if run[figure] is not None]
            median["median_" + figure] = statistics.median(values) if values else None
        median["rounds_requests_per_second"] = [run["requests_per_second"] for run in mine]
        rows.append(median)
    by_name = {row["server"]: row for row in rows}
    by_round = {}
    for run in runs:
        by_round.setdefault(run["round"], {})[run["server"]] = run
    targets = []
    for name, other, figure, bound, sense in TARGETS:
        if name not in by_name or other not in by_name:
            continue
        value = ratio(by_name[name]["median_" + figure], by_name[other]["median_" + figure])
        each = [ratio(r[name][figure], r[other][figure])
                for _, r in sorted(by_round.items()) if name in r and other in r]
        met = value is not None and (value >= bound if sense == "at least" else value <= bound)
        targets.append({"server": name, "compared_with": other, "figure": figure,
                        "target": bound, "sense": sense, "ratio": value, "met": met,
                        "ratio_each_round": each})
    ready = []
    if args.ready_times:
        with open(args.ready_times) as handle:
            ready = [round(float(end) - float(start), 2)
                     for start, end in (line.split() for line in handle if line.strip())]
    ready_median = statistics.median(ready) if ready else None
    result = {"machine": dict(machine(), load_before=args.load_before,
                              load_after=args.load_after),
              "route": args.route, "requests": args.requests, "connections": args.connections,
              "servers": rows, "runs": runs, "targets": targets,
              "time_to_ready_seconds": {"runs": ready, "median": ready_median,
                                        "target": READY_SECONDS,
                                        "met": ready_median is not None
                                        and ready_median <= READY_SECONDS},
              "image": {"predict_bytes": args.image_bytes, "base": args.base,
                        "base_bytes": args.base_bytes}}

    print("POST with %s's test body, %d requests over %d connections (wrk on 127.0.0.1), %d CPUs, "
          "load average %s before, %s after" % (args.route, args.requests, args.connections,
                                                result["machine"]["cpus"], args.load_before,
                                                args.load_after))
    print("%-14s %9s %8s %8s %7s %8s %9s %7s" % ("server", "req/s", "p50 ms", "p99 ms", "errors",
                                                 "CPU/req", "mem warm", "growth"))
    for row in rows:
        print("%-14s %9.1f %8.2f %8.2f %7d %6sus %7.1fMi %6.1f%%"
              % (row["server"], row["median_requests_per_second"], row["p50_ms"],
                 row["median_p99_ms"], row["errors"], row["median_cpu_us_per_request"],
                 row["memory_mib"]["warmed_up"], row["memory_growth_pct"]))
    for row in rows:
        print("%-14s req/s in each round: %s" % (row["server"], ", ".join(
            "%.1f" % x for x in row["rounds_requests_per_second"])))
    print("%-40s %8s %8s  %-6s  %s" % ("target", "ratio", "bound", "", "each round"))
    for goal in targets:
        label = "%s / %s, %s" % (goal["server"], goal["compared_with"], goal["figure"])
        print("%-40s %7.2fx %s%5.2fx  %-6s  %s"
              % (label, goal["ratio"], ">=" if goal["sense"] == "at least" else "<=",
                 goal["target"], "met" if goal["met"] else "MISSED",
                 ", ".join("%.2fx" % x for x in goal["ratio_each_round"] if x is not None)))
    if ready:
        print("time from docker run to 200 on /ready: median %.2f s (<= %.1f s: %s; runs: %s)"
              % (ready_median, READY_SECONDS,
                 "met" if result["time_to_ready_seconds"]["met"] else "MISSED",
                 ", ".join("%.2f" % x for x in ready)))
    if args.image_bytes and args.base_bytes:
        print("predict image %.0f MB, its base %s %.0f MB (+%.0f MB)"
              % (args.image_bytes / 1e6, args.base, args.base_bytes / 1e6,
                 (args.image_bytes - args.base_bytes) / 1e6))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")
    print("written to %s" % args.output)


if __name__ == "__main__":
    main()

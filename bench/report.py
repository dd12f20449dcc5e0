"""Prints bench/serve.sh's figures as a table with each target and its result, and writes JSON.

Each server's row is its median round by throughput; every round is in the JSON under "runs".
A row with a target compares its median throughput with another row's, from the same run.

Usage: report.py <runs.jsonl> <output.json> --requests N --connections N --route R
                 --ready-times FILE --image-bytes N --base IMAGE --base-bytes N
"""

import argparse
import json
import os
import platform
import statistics

SERVERS = ("limit-uvicorn", "bare-gunicorn", "ours-identity", "ours-example", "flask-dev")
# (row, compared with, at least): ours on its own server next to a bare app on the same server,
# and ours with the example's model next to what the older tooling served with.
TARGETS = (("ours-identity", "bare-gunicorn", 0.85), ("ours-example", "flask-dev", 3.0))


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle
                          if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "system": platform.platform(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def summary(run):
    load = run["load"]
    memory = run["memory_bytes"]
    errors = sum(load["errors"].values())
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
        "errors": errors,
        "error_kinds": load["errors"],
        "memory_mib": {key: round(value / 2 ** 20, 1) for key, value in memory.items()},
        # Growth under load, from the warmed-up server (allocations made once, by the first
        # requests, are not growth); and from startup, for completeness.
        "memory_growth_pct": round(100 * (memory["after"] / memory["warmed_up"] - 1), 1),
        "memory_growth_from_start_pct": round(100 * (memory["after"] / memory["at_start"] - 1), 1),
    }


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
        median["rounds_requests_per_second"] = [run["requests_per_second"] for run in mine]
        cpu = [run["cpu_us_per_request"] for run in mine if run["cpu_us_per_request"]]
        median["median_cpu_us_per_request"] = statistics.median(cpu) if cpu else None
        rows.append(median)
    by_name = {row["server"]: row for row in rows}
    targets = []
    for name, other, minimum in TARGETS:
        if name in by_name and other in by_name:
            ratio = by_name[name]["requests_per_second"] / by_name[other]["requests_per_second"]
            # The same ratio within each round (both servers ran minutes apart, not hours), and
            # by CPU time per request: the other's over this one's, so higher is better as well.
            rounds = {}
            for run in runs:
                rounds.setdefault(run["round"], {})[run["server"]] = run
            per_round = [round(r[name]["requests_per_second"] / r[other]["requests_per_second"], 2)
                         for _, r in sorted(rounds.items()) if name in r and other in r]
            cpu_mine = by_name[name]["median_cpu_us_per_request"]
            cpu_other = by_name[other]["median_cpu_us_per_request"]
            targets.append({"server": name, "compared_with": other, "target": minimum,
                            "ratio": round(ratio, 2), "met": ratio >= minimum,
                            "ratio_each_round": per_round,
                            "cpu_ratio": round(cpu_other / cpu_mine, 2)
                            if cpu_mine and cpu_other else None})
    limit = by_name.get("limit-uvicorn")
    for row in rows:
        if limit is not None:
            row["ratio_to_limit"] = round(row["requests_per_second"]
                                          / limit["requests_per_second"], 2)
    ready = []
    if args.ready_times:
        with open(args.ready_times) as handle:
            ready = [round(float(end) - float(start), 2)
                     for start, end in (line.split() for line in handle if line.strip())]
    image = {"predict_bytes": args.image_bytes, "base": args.base, "base_bytes": args.base_bytes}
    result = {"machine": machine(), "route": args.route, "requests": args.requests,
              "connections": args.connections, "servers": rows, "runs": runs,
              "targets": targets,
              "time_to_ready_seconds": {"runs": ready,
                                        "median": statistics.median(ready) if ready else None},
              "image": image}

    header = ("server", "req/s", "p50 ms", "p99 ms", "errors", "CPU/req", "mem warm", "growth",
              "x limit", "target")
    print("POST with %s's test body, %d requests over %d connections (wrk on 127.0.0.1), "
          "%d CPUs, load %s" % (args.route, args.requests, args.connections,
                                result["machine"]["cpus"],
                                " ".join(str(x) for x in result["machine"]["load_average"])))
    print("%-14s %9s %8s %8s %7s %8s %9s %7s %7s  %s" % header)
    for row in rows:
        goal = next((t for t in targets if t["server"] == row["server"]), None)
        shown = ("%.2fx %s (>= %.2fx): %s" % (goal["ratio"], goal["compared_with"], goal["target"],
                                                "met" if goal["met"] else "MISSED")
                 if goal else "-")
        print("%-14s %9.1f %8.2f %8.2f %7d %6sus %7.1fMi %6.1f%% %6.2fx  %s"
              % (row["server"], row["requests_per_second"], row["p50_ms"], row["p99_ms"],
                 row["errors"], row["median_cpu_us_per_request"],
                 row["memory_mib"]["warmed_up"], row["memory_growth_pct"],
                 row.get("ratio_to_limit", float("nan")), shown))
    for row in rows:
        print("%-14s req/s in each round: %s" % (row["server"], ", ".join(
            "%.1f" % x for x in row["rounds_requests_per_second"])))
    for goal in targets:
        print("%s / %s: %.2fx by median throughput (target >= %.2fx: %s); each round: %s; "
              "by CPU time per request: %sx"
              % (goal["server"], goal["compared_with"], goal["ratio"], goal["target"],
                 "met" if goal["met"] else "MISSED",
                 ", ".join("%.2fx" % x for x in goal["ratio_each_round"]),
                 "%.2f" % goal["cpu_ratio"] if goal["cpu_ratio"] else "?"))
    if ready:
        print("time from docker run to 200 on /ready: median %.2f s (runs: %s)"
              % (result["time_to_ready_seconds"]["median"], ", ".join("%.2f" % x for x in ready)))
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

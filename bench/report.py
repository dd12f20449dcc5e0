"""Prints bench/serve.sh's figures as a table with the throughput ratio, and writes them as JSON.

Each server's row is its median round by throughput; every round is in the JSON under "runs".

Usage: report.py <runs.jsonl> <output.json> --requests N --connections N --route R
"""

import argparse
import json
import os
import platform


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
    args = parser.parse_args()
    with open(args.runs) as handle:
        runs = [summary(json.loads(line)) for line in handle if line.strip()]
    rows = []
    for name in ("gunicorn", "gunicorn-threads1", "flask-dev"):
        mine = sorted((run for run in runs if run["server"] == name),
                      key=lambda run: run["requests_per_second"])
        median = dict(mine[len(mine) // 2])
        median["rounds_requests_per_second"] = [run["requests_per_second"] for run in mine]
        rows.append(median)
    flask = next(row for row in rows if row["server"] == "flask-dev")
    ratios = {row["server"]: round(row["requests_per_second"] / flask["requests_per_second"], 2)
              for row in rows if row["server"] != "flask-dev"}
    result = {"machine": machine(), "route": args.route, "requests": args.requests,
              "connections": args.connections, "servers": rows, "runs": runs,
              "throughput_ratio_to_flask_dev": ratios}

    header = ("server", "req/s", "p50 ms", "p99 ms", "errors", "mem start", "mem warm",
              "mem after", "growth")
    print("POST /%s, %d requests over %d connections (wrk on 127.0.0.1), %d CPUs, load %s"
          % (args.route, args.requests, args.connections, result["machine"]["cpus"],
             " ".join(str(x) for x in result["machine"]["load_average"])))
    print("%-17s %9s %8s %8s %7s %10s %10s %10s %7s" % header)
    for row in rows:
        m = row["memory_mib"]
        print("%-17s %9.1f %8.2f %8.2f %7d %8.1fMi %8.1fMi %8.1fMi %6.1f%%"
              % (row["server"], row["requests_per_second"], row["p50_ms"], row["p99_ms"],
                 row["errors"], m["at_start"], m["warmed_up"], m["after"],
                 row["memory_growth_pct"]))
    for row in rows:
        print("%-17s req/s in each round: %s" % (row["server"], ", ".join(
            "%.1f" % x for x in row["rounds_requests_per_second"])))
    for name, ratio in ratios.items():
        print("throughput (median rounds): %s / flask-dev = %.2fx" % (name, ratio))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")
    print("written to %s" % args.output)


if __name__ == "__main__":
    main()

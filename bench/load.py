"""The load run of issue 14: 1,000 events/s for 5 minutes on the production shape.

    .venv/bin/python bench/load.py [--rate 1000] [--seconds 300] [--batch 20] [--workers 1]

The web server (config/web.py) and `celery worker --pool=solo` processes on their own
database (bench/pipeline.py starts them; same load generator: keep-alive clients, varied
complaints, fixed schedule). Prints request latency p50/p99, errors, the RSS of the web
server and the workers at the start and the end, and the processing backlog at the end
(count and oldest age).
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pipeline import (  # noqa: E402
    Backlog,
    Load,
    Services,
    event_bodies,
    load_average,
    percentile,
    rss_mb,
    service_env,
)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--log-dir", default="/tmp/bench-load")
    args = parser.parse_args()
    os.environ.update(service_env())
    print(f"{load_average()} (2 cores, shared: other work skews figures)", flush=True)
    bodies = event_bodies(60000, args.batch)
    services = Services(web_workers=args.web_workers, log_dir=args.log_dir)
    services.setup()
    services.start_workers(args.workers)
    backlog = Backlog()
    load = Load(
        services.port, services.key, rate=args.rate, batch=args.batch, clients=args.clients,
        bodies=bodies,
    )  # fmt: skip

    def rss():
        web, workers = services.pids()
        return sum(rss_mb(p) for p in web), sum(rss_mb(p) for p in workers)

    try:
        load.start()
        time.sleep(5)  # warmed up: every process has served requests / run tasks
        rss_start = rss()
        time.sleep(max(args.seconds - 5, 0))
        rss_end = rss()
        load.stop()
        _, backlog_end, age_end, processed = backlog.measure()
        samples = backlog.samples
    finally:
        if load.stopped is None:
            load.stop()
        backlog.close()
        services.close()

    lat = [x * 1000 for x in load.latencies]
    print(
        f"ingest: {load.rate_achieved():,.0f} events/s for {args.seconds:.0f} s (target "
        f"{args.rate}, batches of {args.batch}, {args.clients} clients) · "
        f"{len(lat):,} requests · p50 {percentile(lat, 0.5):.1f} ms · "
        f"p99 {percentile(lat, 0.99):.1f} ms · max {max(lat, default=0):.0f} ms · "
        f"errors {len(load.errors)}"
    )
    print(
        f"RSS web ({args.web_workers} workers + main): {rss_start[0]:.0f} → "
        f"{rss_end[0]:.0f} MB · celery ({args.workers} worker): {rss_start[1]:.0f} → "
        f"{rss_end[1]:.0f} MB (5 s in → at the end)"
    )
    print(
        f"backlog at the end: {backlog_end:,} unprocessed, oldest {age_end:.1f} s · "
        f"max during the run {max((s[1] for s in samples), default=0):,} · "
        f"{processed:,} processed"
    )
    if load.errors:
        print("first errors:", load.errors[:3])
    print(load_average())


if __name__ == "__main__":
    main()

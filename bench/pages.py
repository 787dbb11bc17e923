"""Every reviewer page at 1 M queue items (PostgreSQL; a script, not a test).

    .venv/bin/python bench/pages.py                     # 1 M items, 50 renders a page
    .venv/bin/python bench/pages.py --items 200000 --renders 100 --reuse

It creates (or with --reuse keeps) its own database and loads clusters, queue items and
feedback events set-based with `generate_series` (bench/queue_claims.py's loader: ~90 %
pending, a third of the clusters P0), then renders each reviewer page through Django's
full request path (middleware, session, templates) with one logged-in test client and
prints p50/p95/max per page. Caches are cleared before each page; the first render is a
warm-up and not counted.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.queue_claims import load, pct, setup_database  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--items", type=int, default=1_000_000, help="queue items to load")
    p.add_argument("--renders", type=int, default=50, help="renders per page")
    p.add_argument("--db", default="triage_bench_pages", help="database name (dropped first)")
    p.add_argument(
        "--base-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL URL; only the database name is replaced",
    )
    p.add_argument("--reuse", action="store_true", help="keep an already loaded database")
    p.add_argument("--only", default="", help="comma-separated page labels to run")
    args = p.parse_args()
    args.reviewers = 1  # the loader makes reviewers+1 users; the last one browses
    return args


def pages(project, items):
    from triage.models import QueueItem

    slug = project.slug
    middle = (
        QueueItem.objects.filter(project=project)
        .order_by("-score", "-pk")
        .values("score", "pk")[items // 2]
    )
    item = QueueItem.objects.filter(project=project, status="pending").order_by("pk").first()
    return [
        ("queue", f"/p/{slug}/queue/"),
        ("queue, deep keyset page", f"/p/{slug}/queue/?after={middle['score']!r}_{middle['pk']}"),
        ("queue, P0 pending", f"/p/{slug}/queue/?severity=p0&status=pending"),
        ("queue, model filter", f"/p/{slug}/queue/?model=rare-model"),
        ("item", f"/p/{slug}/items/{item.pk}/"),
        ("weekly", f"/p/{slug}/weekly/"),
        ("rubric", f"/p/{slug}/rubric/"),
        ("time-to-eval", f"/p/{slug}/time-to-eval/"),
        ("incidents", f"/p/{slug}/incidents/"),
        ("eval-debt", f"/p/{slug}/eval-debt/"),
        ("health", f"/p/{slug}/health/"),
        ("overview", f"/p/{slug}/overview/"),
        ("golden sets", f"/p/{slug}/golden-sets/"),
    ]


def main():
    args = parse_args()
    reused = setup_database(args)
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client

    from accounts.models import Project

    project = Project.objects.filter(slug="bench").first() if reused else None
    if project is None:
        started = time.monotonic()
        project = load(args)
        print(f"loaded {args.items:,} queue items in {time.monotonic() - started:.0f} s")
    else:
        print(f"reusing {args.db} ({project.queue_items.count():,} items)")
    user = get_user_model().objects.get(username=f"bench{args.reviewers}")
    client = Client()
    client.force_login(user)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    load_avg = os.getloadavg()
    print(f"{args.renders} renders a page; load average {load_avg[0]:.2f} {load_avg[1]:.2f}")
    print(f"  {'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  bytes")
    worst = 0.0
    for label, url in pages(project, args.items):
        if only and label not in only:
            continue
        cache.clear()
        response = client.get(url)  # warm-up
        assert response.status_code == 200, (label, response.status_code)
        times = []
        for _ in range(args.renders):
            t0 = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (label, response.status_code)
        worst = max(worst, pct(times, 95))
        print(
            f"  {label:<28} {pct(times, 50):8.1f} {pct(times, 95):8.1f} {max(times):8.1f}"
            f"  {len(response.content):,}"
        )
    print(f"worst p95 {worst:.1f} ms (target ≤ 100 ms)")


if __name__ == "__main__":
    main()

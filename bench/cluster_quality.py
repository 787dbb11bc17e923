"""Clustering quality on the labelled corpus (bench/cluster_corpus.py), through the job.

    .venv/bin/python bench/cluster_quality.py [--events 5000] [--seed 7]
        [--db triage_bench_quality]

Loads the corpus as feedback events into a fresh PostgreSQL database (its own), runs the
real triage job (`triage_job_execute(scrub=False)`: the code path the nightly job and the
button use), then prints pairwise precision and recall of the resulting clusters against
the labels: over all events, over the paraphrase sets (decoys left out) and per topic.
"""

import argparse
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cluster_corpus import corpus, pairwise  # noqa: E402
from bench.queue_claims import setup_database  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--db", default="triage_bench_quality", help="database name (dropped first)")
    p.add_argument(
        "--base-url",
        default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL URL; only the database name is replaced",
    )
    p.add_argument("--examples", type=int, default=3, help="split/merged examples to print")
    args = p.parse_args()
    args.reuse = False
    return args


def main():
    args = parse_args()
    setup_database(args)
    from accounts.models import Project
    from feedback.models import FeedbackEvent
    from triage.job import triage_job_execute

    events = corpus(args.events, args.seed)
    project = Project.objects.create(slug="quality", name="Quality")
    FeedbackEvent.objects.bulk_create(
        [
            FeedbackEvent(
                project=project,
                body_hash=f"{i:064x}",
                rating="down",
                category=e["category"],
                comment=e["comment"],
            )
            for i, e in enumerate(events)
        ],
        batch_size=2000,
    )
    started = time.perf_counter()
    triage_job_execute(project=project, scrub=False)
    seconds = time.perf_counter() - started
    rows = FeedbackEvent.objects.filter(project=project).order_by("pk")
    clusters = list(rows.values_list("cluster_id", flat=True))
    labels = [e["label"] for e in events]

    load = os.getloadavg()
    print(
        f"{len(events):,} events, {len(set(labels))} topics, seed {args.seed}: "
        f"{len(set(clusters)):,} clusters; job {seconds:.2f} s; load {load[0]:.2f} {load[1]:.2f}"
    )
    p, r = pairwise(labels, clusters)
    print(f"  all events            precision {p:.3f}  recall {r:.3f}")
    keep = [i for i, e in enumerate(events) if not e["decoy"]]
    p, r = pairwise([labels[i] for i in keep], [clusters[i] for i in keep])
    print(f"  paraphrase sets       precision {p:.3f}  recall {r:.3f}")

    by_label = defaultdict(list)
    for label, cluster in zip(labels, clusters, strict=True):
        by_label[label].append(cluster)
    print("  per topic: events, clusters, share in its biggest cluster")
    for label, cs in sorted(by_label.items()):
        top = Counter(cs).most_common(1)[0][1]
        print(f"    {label:<22} {len(cs):5d} {len(set(cs)):5d}  {top / len(cs):.2f}")
    # A few texts that landed outside their topic's main cluster, to see why.
    main = {label: Counter(cs).most_common(1)[0][0] for label, cs in by_label.items()}
    shown = 0
    for e, cluster in zip(events, clusters, strict=True):
        if cluster != main[e["label"]] and shown < args.examples:
            print(f"    split off: [{e['label']}] {e['comment']!r}")
            shown += 1


if __name__ == "__main__":
    main()

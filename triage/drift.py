"""Drift: problems that are big in production but barely covered by the golden sets. Pure."""

import hashlib


def cluster_tags(*, category, is_p0, failure_mode=""):
    """The tags a golden case promoted from this cluster would carry (see case_promote)."""
    return [t for t in (category, failure_mode, "p0" if is_p0 else "") if t]


def eval_share(tags, case_tags):
    """Share of golden cases whose tags include all of `tags`."""
    if not case_tags or not tags:
        return 0.0
    wanted = set(tags)
    return sum(1 for ct in case_tags if wanted <= set(ct)) / len(case_tags)


def drifting(clusters, case_tags, *, traffic_min, eval_max):
    """Clusters above `traffic_min` of production feedback but under `eval_max` of eval cases.

    `clusters`: [(cluster_id, event_count, tags)]. Returns [(cluster_id, traffic, eval)]
    sorted by traffic share, biggest first.
    """
    total = sum(n for _, n, _ in clusters)
    if not total:
        return []
    out = []
    for cluster_id, n, tags in clusters:
        traffic = n / total
        covered = eval_share(tags, case_tags)
        if traffic > traffic_min and covered < eval_max:
            out.append((cluster_id, round(traffic, 4), round(covered, 4)))
    return sorted(out, key=lambda r: (-r[1], r[0]))


def sample_ids(ids, k, seed):
    """A deterministic sample of `k` ids: the same rows are picked on every rerun."""

    def key(i):
        return hashlib.sha256(f"{seed}:{i}".encode()).digest()

    return sorted(sorted(ids, key=key)[:k])

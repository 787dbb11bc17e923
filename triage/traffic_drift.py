"""Drift on traffic, not complaints: what users ask that the golden sets do not cover.

Weekly, a bounded sample of the production root runs' inputs is grouped into topics (each
query's most distinctive shared content word); a topic above TRIAGE_DRIFT_TRAFFIC_MIN of
traffic but under TRIAGE_DRIFT_EVAL_MAX of golden-set cases gets live queries sampled into
the queue (source `drift-<date>` when promoted). The report also gives the locale mix and
the prompt-length spread against the week before. Topic grouping and shares are pure
functions; `traffic_drift_check` is the service.
"""

import hashlib
import json
import math
import re
import statistics
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from datasets.models import Case
from feedback.models import FeedbackEvent

from . import drift, flag_rules, metrics_sql
from .clustering import cluster_stats_refresh
from .models import Cluster, QueueItem, TriageRun

STOPWORDS = frozenset(
    """the and for you your are was were with this that have has had not but can could
    would should will what when where which who whom why how does did doing done from
    into onto about there their they them then than our ours out get got its it's i'm
    please thanks thank hello just also any all some more most very much many too only
    i'd i've we're you're don't can't won't isn't""".split()
)
_WORD = re.compile(r"[a-z][a-z']{2,}")
MAX_TOPIC_SHARE = 0.6  # a word in more of the traffic than this says nothing about topic


def content_words(text):
    return sorted({w for w in _WORD.findall((text or "").lower()) if w not in STOPWORDS})


def topic_of(words, df, n):
    """A query's topic: its content word shared by the most queries (at least two, at most
    MAX_TOPIC_SHARE of them); ties go to the alphabetically last, so it is deterministic.
    "" when nothing qualifies (a long tail of one-off questions)."""
    candidates = [w for w in words if df.get(w, 0) >= 2 and df[w] / n <= MAX_TOPIC_SHARE]
    return max(candidates, key=lambda w: (df[w], w)) if candidates else ""


def traffic_topics(texts):
    """(topic per text, document frequency of each word) for a sample of queries."""
    docs = [content_words(t) for t in texts]
    df = Counter(w for d in docs for w in d)
    return [topic_of(d, df, len(docs)) for d in docs], df


def topic_label(texts, limit=3):
    """A readable name for a topic: its queries' most common content words (alphabetical)."""
    counts = Counter(w for t in texts for w in content_words(t))
    top = sorted(counts, key=lambda w: (-counts[w], w))[:limit]
    return " ".join(sorted(top))


def drifting_topics(traffic, cases, *, traffic_min, eval_max):
    """Topics above `traffic_min` of traffic and under `eval_max` of cases:
    [(topic, traffic share, case share)], biggest first. `traffic`/`cases`: Counters."""
    total, case_total = sum(traffic.values()), sum(cases.values())
    out = []
    for topic, n in traffic.items():
        if not topic or not total:
            continue
        share = n / total
        covered = cases.get(topic, 0) / case_total if case_total else 0.0
        if share > traffic_min and covered < eval_max:
            out.append((topic, round(share, 4), round(covered, 4)))
    return sorted(out, key=lambda t: (-t[1], t[0]))


def _shares(values):
    counts = Counter(values)
    total = sum(counts.values())
    return {k: round(v / total, 4) for k, v in counts.items()} if total else {}


def mix_report(current, previous):
    """Locale mix and prompt length of this week's sample against last week's.
    `current`/`previous`: [(locale, prompt length in characters)]."""
    now, before = _shares(loc for loc, _ in current), _shares(loc for loc, _ in previous)
    locales = [
        {
            "locale": loc or "(none)",
            "share": now.get(loc, 0.0),
            "previous_share": before.get(loc, 0.0),
            "change": round(now.get(loc, 0.0) - before.get(loc, 0.0), 4),
        }
        for loc in sorted(set(now) | set(before), key=lambda x: (-now.get(x, 0.0), x))
    ]

    def spread(rows):
        lengths = sorted(n for _, n in rows)
        if not lengths:
            return {"median": None, "p90": None}
        return {"median": statistics.median(lengths), "p90": flag_rules.percentile(lengths, 90)}

    this, last = spread(current), spread(previous)
    return {
        "locales": locales,
        "prompt_length": {
            "median": this["median"],
            "p90": this["p90"],
            "previous_median": last["median"],
            "previous_p90": last["p90"],
        },
    }


# --- reads and the service --------------------------------------------------------------------


def traffic_sample(*, project, start, end, size):
    """Up to about `size` production root runs started in [start, end): every k-th by id,
    so the sample spreads over the window and the same rows come back on a rerun.
    Returns [(trace_id, input text, locale)]."""
    ops = connection.ops
    where = (
        "r.project_id = %s AND r.parent_run_id = '' AND r.start_time >= %s "
        f"AND r.start_time < %s AND NOT {metrics_sql.experiment_run_sql()}"
    )
    params = [project.pk, ops.adapt_datetimefield_value(start), ops.adapt_datetimefield_value(end)]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM feedback_run r WHERE {where}", params)
        total = cursor.fetchone()[0]
        step = max(1, math.ceil(total / size))
        cursor.execute(
            f"SELECT r.trace_id, r.inputs, {metrics_sql.json_text('r.metadata', 'locale')} "
            f"FROM feedback_run r WHERE {where} AND r.id %% %s = 0 ORDER BY r.id",
            [*params, step],
        )
        rows = cursor.fetchall()
    out = []
    for trace_id, inputs, locale in rows:
        if isinstance(inputs, str):  # SQLite hands back the JSON text
            inputs = json.loads(inputs)
        out.append((trace_id, flag_rules.input_text(inputs), locale or ""))
    return out


def _case_text(value):
    return flag_rules.input_text(value) if isinstance(value, dict | list) else str(value or "")


def traffic_drift_check(*, project, now=None):
    """The weekly check: topics, drifting ones sampled into the queue, the mix report.
    Idempotent within a day: samples are keyed by date and trace."""
    now = now or timezone.now()
    days = settings.TRIAGE_DRIFT_WINDOW_DAYS
    size = settings.TRIAGE_TRAFFIC_DRIFT_SAMPLE
    start = now - timedelta(days=days)
    sample = traffic_sample(project=project, start=start, end=now, size=size)
    previous = traffic_sample(project=project, start=start - timedelta(days=days), end=start,
                              size=size)  # fmt: skip
    topics, df = traffic_topics([text for _, text, _ in sample])
    case_topics = Counter(
        topic_of(content_words(_case_text(value)), df, len(sample))
        for value in Case.objects.filter(golden_set__project=project).values_list(
            "input", flat=True
        )
    )
    found = drifting_topics(
        Counter(topics),
        case_topics,
        traffic_min=settings.TRIAGE_DRIFT_TRAFFIC_MIN,
        eval_max=settings.TRIAGE_DRIFT_EVAL_MAX,
    )
    source = f"drift-{now:%Y-%m-%d}"
    queued = 0
    drifting = []
    for topic, share, covered in found:
        members = [
            (trace, text) for (trace, text, _), t in zip(sample, topics, strict=True) if t == topic
        ]
        label = topic_label([text for _, text in members])
        picked = drift.sample_ids(
            [trace for trace, _ in members],
            settings.TRIAGE_DRIFT_SAMPLE_SIZE,
            seed=f"{source}:{topic}",
        )
        reason = f"{source}: “{label}” is {share:.1%} of traffic, {covered:.1%} of eval cases"
        queued += _queue_samples(project, picked, reason, source, topic, now)
        drifting.append(
            {"topic": topic, "label": label, "traffic_share": share, "case_share": covered}
        )
    report = {
        "source": source,
        "sampled": len(sample),
        "topics": [
            {"topic": t or "(other)", "share": s}
            for t, s in sorted(_shares(topics).items(), key=lambda x: (-x[1], x[0]))[:20]
        ],
        "drifting": drifting,
        "queued": queued,
        **mix_report(
            [(loc, len(text)) for _, text, loc in sample],
            [(loc, len(text)) for _, text, loc in previous],
        ),  # fmt: skip
    }
    TriageRun.objects.create(
        project=project, kind="traffic_drift", status=TriageRun.Status.DONE,
        summary=report, started_at=now, finished_at=timezone.now(),
    )  # fmt: skip
    return report


def _queue_samples(project, trace_ids, reason, source, topic, now):
    """One drift-sample cluster and queue item per live query, its evidence an event
    pointing at the trace (no rating: it is a sample, not a complaint)."""
    created = 0
    with transaction.atomic():
        for trace_id in trace_ids:
            digest = hashlib.sha256(f"{source}:{trace_id}".encode()).hexdigest()
            cluster, new = Cluster.objects.get_or_create(
                project=project,
                fingerprint=f"traffic-drift:{digest[:48]}",
                defaults={
                    "kind": Cluster.Kind.DRIFT_SAMPLE,
                    "category": "other",
                    "queue_reason": reason[:200],
                    "score_breakdown": {"reason": reason, "source": source, "topic": topic},
                },
            )
            if not new:
                continue
            FeedbackEvent.objects.create(
                project=project,
                client_id=f"drift:{digest}"[:128],
                body_hash=digest,
                trace_id=trace_id,
                source=FeedbackEvent.Source.AUTO,
                comment=reason,
                metadata={"drift": source, "topic": topic},
                created_at=now,
                received_at=now,
                processed_at=now,  # not a complaint: nothing for the clustering to do
                cluster=cluster,
            )
            QueueItem.objects.get_or_create(cluster=cluster, defaults={"project": project})
            created += 1
        cluster_stats_refresh(
            cluster_ids=list(
                Cluster.objects.filter(
                    project=project, score_breakdown__source=source, score_breakdown__topic=topic
                ).values_list("pk", flat=True)
            )
        )
    return created

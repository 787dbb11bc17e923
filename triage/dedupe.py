"""Cheap normalization, exact fingerprints and MinHash LSH for grouping feedback.

No Presidio here: it is far too slow per event. Everything is deterministic: fixed seeds,
stable hashes (xxhash, not Python's salted `hash`), and callers feed items in a stable order.
"""

import hashlib
import re
from functools import lru_cache

import numpy as np
import xxhash
from datasketch import MinHash, MinHashLSH
from spacy.lang.de.stop_words import STOP_WORDS as DE_STOP_WORDS
from spacy.lang.en.stop_words import STOP_WORDS as EN_STOP_WORDS
from spacy.lang.es.stop_words import STOP_WORDS as ES_STOP_WORDS
from spacy.lang.fr.stop_words import STOP_WORDS as FR_STOP_WORDS

from .complaint_terms import CONCEPTS, NOISE, PHRASES
from .pii.names import COMMON_WORDS, _fold, first_names

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://\S+|www\.\S+")
_DIGIT = re.compile(r"\d")
# ASCII punctuation except the mask brackets; str.translate is much faster than a regex.
_PUNCT = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;=?@[\\]^_`{|}~"})

# Function words carry no problem signal; dropping them lets paraphrases overlap.
STOPWORDS = frozenset(
    """a an the and or but if then so to of in on at by for with from into about as is are was
    were be been being am do does did doing have has had having i me my we our you your he she
    it its they them their this that these those there here what which who whom how why when
    where can could would should will shall may might must just not no yes please get got
    again also very really too still any some all hi hello thanks thank""".split()
    # Feedback boilerplate: how people complain, not what about.
    + """bot assistant answer answered response reply said says asked ask help time times
    third seriously ugh see contact ref""".split()
)

SEED = 7  # fixed: signatures persisted in the database must stay comparable across runs
SCHEME = "affine32"


def normalize_text(text):
    """Lowercase, mask emails/URLs/ids/numbers, drop punctuation, collapse whitespace."""
    text = (text or "").lower()
    if "@" in text:
        text = _EMAIL.sub(" <email> ", text)
    if "http" in text or "www." in text:
        text = _URL.sub(" <url> ", text)
    # Any word holding a digit (order ids, SKUs, uuids, amounts, dates) is one <num>;
    # a run of them ("12/03/2024", "4111 1111 …") collapses into one.
    out, in_number = [], False
    for word in text.translate(_PUNCT).split():
        if word.isalpha() or _DIGIT.search(word) is None:
            out.append(word)
            in_number = False
        elif not in_number:
            out.append("<num>")
            in_number = True
    return " ".join(out)


def fingerprint(*, category, text, prompt_hash=""):
    """Same category + same normalized text → same fingerprint. No text: group by prompt."""
    normalized = normalize_text(text) or f"<no comment> {prompt_hash}"
    return hashlib.sha256(f"{category}\x1f{normalized}".encode()).hexdigest()


def _stem(word):
    # A crude plural/tense fold ("refunds"→"refund", "charged"→"charg"/"charge"→"charg").
    for suffix in ("ing", "ed", "es", "s", "e"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def shingles(normalized):
    """The content words of a normalized text, stemmed: the set MinHash estimates Jaccard on."""
    return {_stem(w) for w in normalized.split() if w not in STOPWORDS and not w.startswith("<")}


# --- the clustering key: what a complaint is about, in canonical words ------------------

# Presidio placeholders in already-scrubbed text ("<PHONE_NUMBER>", "<PERSON_1>").
_PLACEHOLDER = re.compile(r"<[a-z]+(?:_[a-z0-9]+)*>", re.IGNORECASE)
_VOCAB = {}  # word or its stem → concept
for _concept, _words in CONCEPTS.items():
    for _w in _words.split():
        _VOCAB[_w] = _concept
        _VOCAB.setdefault(_stem(_w), _concept)
# spaCy's stop words (language data, no model needed) for the four languages we fold.
_DROP = STOPWORDS | frozenset(NOISE) | EN_STOP_WORDS | DE_STOP_WORDS | FR_STOP_WORDS | ES_STOP_WORDS
_DROP_STEMS = frozenset(_stem(w) for w in NOISE) - set(_VOCAB)  # "responses" → "respons"
# A comment this thin ("wrong answer") says little: the trace's question joins the key.
THIN_COMMENT = 3


@lru_cache(maxsize=200_000)
def canonical_tokens(normalized):
    """Concepts and stemmed content words of a normalized text, as a frozenset.

    Vocabulary first (a concept beats a stop word), then stop words and noise are dropped,
    then people's names: a first name from gender-guesser's list and the word after it
    unless that one means something ("maria gonzalez", "tom wrong" keeps "wrong").
    Cached by normalized text: numbers and ids are masked by then, so repeats are common.
    """
    words = normalized.split()
    names = first_names()
    out, skip = set(), False
    for i, word in enumerate(words):
        if skip:
            skip = False
            continue
        following = words[i + 1] if i + 1 < len(words) else None
        concept = PHRASES.get((word, following)) if following else None
        if concept:
            out.add(concept)
            skip = True
            continue
        concept = _VOCAB.get(word)
        if concept is None:
            if word in _DROP or word[0] == "<" or len(word) < 2:
                continue
            if (word if word.isascii() else _fold(word)) in names and word not in COMMON_WORDS:
                skip = following is not None and following not in _VOCAB
                continue
            stem = _stem(word)
            concept = _VOCAB.get(stem, stem)
            if concept in _DROP or concept in _DROP_STEMS:
                continue
        out.add(concept)
    return frozenset(out)


def text_tokens(text):
    """canonical_tokens of raw or scrubbed text (placeholders, names, numbers dropped)."""
    if "<" in text:
        text = _PLACEHOLDER.sub(" ", text)
    return canonical_tokens(normalize_text(text))


def complaint_tokens(comment, context=""):
    """What a complaint is about: the comment's tokens; the trace's question joins when the
    comment alone is too thin to tell problems apart."""
    tokens = text_tokens(comment or "")
    if len(tokens) < THIN_COMMENT and context:
        tokens = tokens | text_tokens(context)
    return tokens


def complaint_key(*, category, intent, tokens, prompt_hash=""):
    """The exact key: same category, intent and tokens → same fingerprint."""
    # The prompt only counts when there are no tokens: leaving it out otherwise lets the
    # cache serve every event of a complaint (ten events share a key on average).
    return _complaint_key(category, intent, tokens, "" if tokens else prompt_hash)


@lru_cache(maxsize=200_000)
def _complaint_key(category, intent, tokens, prompt_hash):
    text = " ".join(sorted(tokens)) or f"<no comment> {prompt_hash}"
    return hashlib.sha256(f"{category}\x1f{intent}\x1f{text}".encode()).hexdigest()


EMBEDDING_BANDS, EMBEDDING_BITS = 8, 6


def embedding_tokens(vectors):
    """Tokens from embedding vectors (SimHash): texts whose vectors point the same way share
    most of them, so they raise the MinHash similarity of paraphrases no word list knows.

    Random hyperplanes with a fixed seed: deterministic for a deterministic embedder.
    """
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2 or not len(v):
        return [frozenset() for _ in vectors]
    planes = np.random.default_rng(SEED).standard_normal(
        (v.shape[1], EMBEDDING_BANDS * EMBEDDING_BITS)
    )
    signs = (v @ planes > 0).reshape(len(v), EMBEDDING_BANDS, EMBEDDING_BITS)
    return [
        frozenset(f"~e{b}:{band.tobytes().hex()}" for b, band in enumerate(row)) for row in signs
    ]


def partition(category, intent):
    """Clusters only ever match within one category, and within one intent when sent."""
    return f"{category}\x1f{intent}" if intent else category


def _fmix32(h):
    """MurmurHash3's finalizer on uint32 arrays: datasketch's "affine32" input mixing."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


EMPTY = np.uint32(0xFFFFFFFF)


class Sketcher:
    """MinHash signatures for many token sets at once.

    Same values as `datasketch.MinHash(num_perm, seed=SEED, hashfunc=xxh32,
    scheme="affine32")` (a test checks it), but vectorized over a whole batch: one numpy
    pass instead of a MinHash object per text, which is what makes a million events fit
    in a minute.
    """

    def __init__(self, num_perm):
        self.num_perm = num_perm
        a, b = MinHash(num_perm=num_perm, seed=SEED, scheme=SCHEME).permutations
        self._a, self._b = a.astype(np.uint32), b.astype(np.uint32)

    def sketch_many(self, token_sets):
        """uint32 array (len(token_sets), num_perm); an empty set gives a row of EMPTY."""
        out = np.full((len(token_sets), self.num_perm), EMPTY, dtype=np.uint32)
        hashes, starts, rows = [], [], []
        for i, tokens in enumerate(token_sets):
            if tokens:
                starts.append(len(hashes))
                rows.append(i)
                hashes.extend(xxhash.xxh32_intdigest(t.encode()) for t in sorted(tokens))
        if not hashes:
            return out
        hv = _fmix32(np.array(hashes, dtype=np.uint32))
        with np.errstate(over="ignore"):
            permuted = hv[:, None] * self._a + self._b  # wraps mod 2**32, as intended
        out[rows] = np.minimum.reduceat(permuted, starts, axis=0)
        return out

    def sketch(self, tokens):
        return self.sketch_many([tokens])[0]


def signature_bytes(sig):
    return np.asarray(sig, dtype=np.uint32).tobytes()


def signature_load(data):
    return np.frombuffer(bytes(data), dtype=np.uint32)


def jaccard(a, b):
    """MinHash estimate of the Jaccard similarity of two signatures."""
    return np.count_nonzero(a == b) / len(a)


class ClusterIndex:
    """MinHash LSH over cluster signatures, one set of band tables per category.

    The band/row split is datasketch's (`MinHashLSH` picks b×r for the threshold);
    the tables themselves are plain dicts keyed by band bytes because datasketch's
    per-call overhead (~50 µs per insert) dominated the job at a million events.

    A cluster keeps a few representative signatures (its first text, then the first
    texts that joined it by similarity rather than exactly, up to a cap the caller
    enforces): matching against several members catches paraphrases of paraphrases
    without the long chains single-linkage would build. A text joins the candidate
    cluster with the most similar representative, if that similarity reaches
    `threshold`; ties go to the oldest cluster (first added), so the result does not
    depend on dict order. `key` (a fingerprint) makes re-adding the same one a no-op.
    """

    def __init__(self, *, threshold, num_perm):
        self.threshold = threshold
        self.num_perm = num_perm
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.ranges = list(lsh.hashranges)
        width = np.dtype(np.uint32).itemsize
        self._byte_ranges = [(s * width, e * width) for s, e in self.ranges]
        self._tables = {}
        self._reps = {}  # cluster id → its representatives' signatures, one row each
        self._order = {}
        self._seen = set()

    def _keys(self, sig):
        # Slicing one bytes object is several times cheaper than a numpy slice per band.
        data = sig.tobytes()
        return [data[s:e] for s, e in self._byte_ranges]

    def add(self, cluster_id, category, sig, key=None):
        if key is not None:
            if key in self._seen:
                return
            self._seen.add(key)
        elif cluster_id in self._reps:
            return
        tables = self._tables.get(category)
        if tables is None:
            tables = self._tables[category] = [{} for _ in self.ranges]
        for table, band in zip(tables, self._keys(sig), strict=True):
            bucket = table.setdefault(band, [])
            if not bucket or bucket[-1] != cluster_id:
                bucket.append(cluster_id)
        reps = self._reps.get(cluster_id)
        self._reps[cluster_id] = sig[None, :] if reps is None else np.vstack([reps, sig])
        self._order.setdefault(cluster_id, len(self._order))

    def representatives(self, cluster_id):
        reps = self._reps.get(cluster_id)
        return 0 if reps is None else len(reps)

    def __contains__(self, cluster_id):
        return cluster_id in self._reps

    def __len__(self):
        return len(self._reps)

    def best_match(self, category, sig, allowed=None):
        """(cluster id, similarity) of the best match, or (None, 0.0)."""
        tables = self._tables.get(category)
        if tables is None:
            return None, 0.0
        candidates = set()
        for table, band in zip(tables, self._keys(sig), strict=True):
            hit = table.get(band)
            if hit:
                candidates.update(hit)
        best, best_rank = None, None
        for cid in candidates:
            if allowed is not None and cid not in allowed:
                continue
            # = max(jaccard(rep, sig) for each representative), in one numpy call.
            sim = int(np.count_nonzero(self._reps[cid] == sig, axis=1).max()) / len(sig)
            if sim >= self.threshold:
                rank = (-sim, self._order[cid])
                if best_rank is None or rank < best_rank:
                    best, best_rank = cid, rank
        return best, (-best_rank[0] if best_rank else 0.0)

import xxhash
from datasketch import MinHash

from triage import dedupe


def _index(threshold=0.5):
    return dedupe.ClusterIndex(threshold=threshold, num_perm=64)


def _sig(text):
    return dedupe.Sketcher(64).sketch(dedupe.shingles(dedupe.normalize_text(text)))


def test_normalize_masks_numbers_emails_urls_and_ids():
    text = (
        "Order #A12B9 for bob@example.com, see https://x.io/a?b=1 — "
        "id 123e4567-e89b-12d3-a456-426614174000"
    )
    assert dedupe.normalize_text(text) == ("order <num> for <email> see <url> — id <num>")


def test_exact_duplicates_share_a_fingerprint_within_a_category():
    a = dedupe.fingerprint(category="billing", text="Charged TWICE for order 123!")
    b = dedupe.fingerprint(category="billing", text="charged twice for order 987")
    c = dedupe.fingerprint(category="wrong", text="charged twice for order 987")
    assert a == b
    assert a != c


def test_paraphrases_are_near_duplicates_and_unrelated_texts_are_not():
    refund_a = _sig("refund for my shoes order 123")
    refund_b = _sig("how do I get a refund on the shoes, order 987")
    other = _sig("the bot recommended a pizza recipe with glue")
    assert dedupe.jaccard(refund_a, refund_b) >= 0.5
    assert dedupe.jaccard(refund_a, other) < 0.2


def test_index_matches_near_duplicates_only_in_the_same_category():
    index = _index()
    index.add(1, "billing", _sig("refund for my shoes order 123"))
    index.add(2, "wrong", _sig("the capital of australia is not sydney"))
    assert (
        index.best_match("billing", _sig("how do I get a refund on the shoes, order 987"))[0] == 1
    )
    assert (
        index.best_match("wrong", _sig("how do I get a refund on the shoes, order 987"))[0] is None
    )
    assert index.best_match("billing", _sig("the capital of australia is not sydney"))[0] is None


def test_ties_go_to_the_first_added_cluster_and_allowed_filters():
    index = _index()
    sig = _sig("refund for my shoes")
    index.add(5, "billing", sig)
    index.add(3, "billing", sig)
    assert index.best_match("billing", sig)[0] == 5
    assert index.best_match("billing", sig, allowed={3})[0] == 3


def test_signatures_round_trip_and_are_deterministic():
    sig = _sig("refund for my shoes order 123")
    again = _sig("Refund for my shoes, order 555")
    data = dedupe.signature_bytes(sig)
    assert data == dedupe.signature_bytes(again)
    assert len(data) == 64 * 4
    assert dedupe.jaccard(dedupe.signature_load(data), sig) == 1.0


def test_vectorized_sketches_equal_datasketch_minhash():
    tokens = [{"refund", "shoe", "order"}, set(), {"glue", "pizza"}]
    sigs = dedupe.Sketcher(64).sketch_many(tokens)
    for row, toks in zip(sigs, tokens, strict=True):
        m = MinHash(num_perm=64, seed=dedupe.SEED, hashfunc=xxhash.xxh32_intdigest,
                    scheme=dedupe.SCHEME)  # fmt: skip
        m.update_batch([t.encode() for t in sorted(toks)])
        assert (row == m.hashvalues).all()


def test_extra_representatives_catch_paraphrases_of_paraphrases():
    index = _index()
    a = _sig("refund shoes order broken")
    b = _sig("refund shoes order broken late")
    c = _sig("refund shoes broken late missing")  # like b, not enough like a
    index.add(1, "billing", a, key="a")
    assert index.best_match("billing", c)[0] is None
    cid, sim = index.best_match("billing", b)
    assert cid == 1 and sim < 1.0
    index.add(1, "billing", b, key="b")
    index.add(1, "billing", b, key="b")  # same key: ignored
    assert index.representatives(1) == 2
    assert index.best_match("billing", c)[0] == 1

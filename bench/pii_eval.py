"""PII recall/precision and throughput on a labelled, generated corpus.

    .venv/bin/python bench/pii_eval.py [--n 1200] [--seed 7] [--processes 2]

The corpus is made with Faker across several locales and formats: names in running text
(title case, lowercase, possessive), emails, phones in national and international formats,
card numbers in several groupings, IBANs, IPv4/IPv6, US SSNs, street addresses, real place
names in running text, secrets (API keys, tokens, passwords) and nested chat JSON, plus texts
with no PII (sentences opening with a capitalised ordinary word) for precision. Every
generated value is labelled with its exact span, so recall is measured per entity type, not
guessed.

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
import random
import re
import string
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"]
PATTERNED = ["EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN"]
PHONE_REGION = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "es_ES": "ES",
                "it_IT": "IT", "nl_NL": "NL"}  # fmt: skip


DISTRACTORS = [
    "please mark the answer as wrong, it cited the 2019 policy",
    "my bill amount is wrong for order 48213",
    "grant access to the admin panel did nothing",
    "may i get a refund for the annual plan?",
    "Will this work on Windows 11 with version 3.2.1?",
    "the rose gold case broke after 3 days",
    "hope you can help, the export to CSV times out after 30 s",
    "The assistant said the store opens at 9:00 and closes at 17:30.",
    "It recommended the Pro plan at $49.99/month instead of the Basic one.",
    "Summary was too long and missed the key point about shipping costs.",
    "the answer linked to docs page 404, error code E1234",
    "Retrieval returned chunk 17 of 240 which is about a different product",
]
# Retrieved policy text: sentences that open with a capitalised ordinary word, some of them
# also first names or place names ("Bill", "Grace", "Nice", "Reading"). No PII (precision).
SENTENCE_STARTS = [
    "Gift cards cannot be refunded.",
    "Refunds take 5 to 7 business days.",
    "Bill me annually instead of monthly.",
    "Mark the ticket as resolved once the customer confirms.",
    "Grant access only after an admin approves.",
    "Chase the carrier if the parcel is late.",
    "Will the export include archived projects?",
    "Hope this helps with the migration.",
    "Shipping is free on orders over $50.",
    "Returns must be started within 30 days.",
    "Warranty claims need the original receipt.",
    "Orders placed after 5 pm ship the next day.",
    "Invoices are emailed on the first of the month.",
    "Passwords must be at least 12 characters long.",
    "Subscriptions renew automatically unless cancelled.",
    "Discounts do not stack with other promotions.",
    "Store credit expires after one year.",
    "Prices include VAT where applicable.",
    "Exchanges are free for unworn items.",
    "Summer sale items are final sale.",
    "Rose gold models are back in stock.",
    "Frank feedback helps us improve the assistant.",
    "Grace periods apply to annual plans only.",
    "Max upload size is 25 MB per file.",
    "Nice work on the new dashboard, but the totals are off.",
    "Reading the docs did not help.",
    "Mobile checkout fails on older phones.",
    "Split payments are supported for orders over $100.",
    "Bath products cannot be returned once opened.",
    "Deliveries to remote areas may take longer.",
]


class Text:
    """Builds a string while remembering where each labelled value went."""

    def __init__(self):
        self.parts, self.gold, self.length = [], [], 0

    def add(self, value):
        self.parts.append(value)
        self.length += len(value)
        return self

    def pii(self, value, entity_type):
        self.gold.append((self.length, self.length + len(value), entity_type, value))
        return self.add(value)

    def build(self):
        return "".join(self.parts), self.gold


def _rand_token(rng, n, alphabet=string.ascii_letters + string.digits):
    return "".join(rng.choice(alphabet) for _ in range(n))


class Generator:
    def __init__(self, seed):
        from faker import Faker

        self.rng = random.Random(seed)
        self.fakers = {}
        for index, locale in enumerate(LOCALES):
            fake = Faker(locale)
            fake.seed_instance(seed * 100 + index)
            for provider in fake.providers:
                # it_IT builds its city list from a set: its order (so the corpus) would
                # change with hash randomisation. Sorted, one seed is one corpus.
                if isinstance(getattr(provider, "cities", None), list):
                    provider.cities = sorted(provider.cities)
            self.fakers[locale] = fake

    def fake(self, locale=None):
        locale = locale or self.rng.choice(LOCALES)
        return locale, self.fakers[locale]

    # --- values -------------------------------------------------------------------------

    def person(self, style=None):
        _, fake = self.fake()
        name = f"{fake.first_name()} {fake.last_name()}"
        style = style or self.rng.choice(["title", "title", "title", "lower"])
        return name.lower() if style == "lower" else name

    def email(self):
        _, fake = self.fake()
        return self.rng.choice([fake.email, fake.free_email, fake.company_email])()

    def phone(self):
        import phonenumbers

        for _ in range(50):
            locale, fake = self.fake()
            raw = re.split(r"\s*(?:x|ext\.?)\s*\d+$", fake.phone_number())[0].strip()
            try:
                number = phonenumbers.parse(raw, PHONE_REGION[locale])
            except phonenumbers.NumberParseException:
                continue
            # A number nobody could dial is not a phone number: keep what libphonenumber
            # calls *possible* (right length for the country); validity is not required.
            if not phonenumbers.is_possible_number(number):
                continue
            fmt = self.rng.choice(["raw", "national", "international", "e164"])
            if fmt == "raw":
                return raw
            return phonenumbers.format_number(
                number,
                {
                    "national": phonenumbers.PhoneNumberFormat.NATIONAL,
                    "international": phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                    "e164": phonenumbers.PhoneNumberFormat.E164,
                }[fmt],
            )
        raise RuntimeError("no phone number generated")

    def card(self):
        _, fake = self.fake("en_US")
        kind = self.rng.choice(["visa16", "mastercard", "amex", "discover", "jcb16", "visa16"])
        digits = fake.credit_card_number(card_type=kind)
        style = self.rng.choice(["plain", "spaces", "dashes"])
        if style == "plain":
            return digits
        sep = " " if style == "spaces" else "-"
        groups = (4, 6, 5) if len(digits) == 15 else (4, 4, 4, 4)
        out, i = [], 0
        for g in groups:
            out.append(digits[i : i + g])
            i += g
        return sep.join(out)

    def iban(self):
        locale, fake = self.fake(self.rng.choice(["en_GB", "de_DE", "fr_FR", "es_ES", "it_IT",
                                                  "nl_NL"]))  # fmt: skip
        iban = fake.iban()
        if self.rng.random() < 0.5:
            iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
        return iban

    def ip(self):
        _, fake = self.fake("en_US")
        return self.rng.choice([fake.ipv4_public, fake.ipv4_private, fake.ipv6])()

    def ssn(self):
        return self.fakers["en_US"].ssn()

    def place(self):
        """A real place name (Faker's lists, not the recognizer's gazetteer)."""
        return self.rng.choice(
            [
                self.fakers["en_US"].state,
                self.fakers["en_US"].country,
                self.fakers["en_GB"].administrative_unit,
                self.fakers["de_DE"].city,
                self.fakers["es_ES"].city,
                self.fakers["it_IT"].state,
                self.fakers["nl_NL"].city,
            ]
        )()

    def address(self):
        locale, fake = self.fake()
        street = fake.street_address()
        if self.rng.random() < 0.5:
            return f"{street}, {fake.city()}"
        return street

    def secret(self):
        """(prefix shown in clear, secret value) — the value is the labelled span."""
        r = self.rng
        kind = r.choice(
            ["openai", "anthropic", "github", "aws_id", "aws_secret", "bearer", "jwt",
             "api_key", "password", "slack", "stripe", "google"]
        )  # fmt: skip
        b64 = string.ascii_letters + string.digits + "+/"
        url = string.ascii_letters + string.digits + "-_"
        if kind == "openai":
            return "", "sk-" + r.choice(["", "proj-"]) + _rand_token(r, 48, url)
        if kind == "anthropic":
            return "", "sk-ant-api03-" + _rand_token(r, 80, url) + "AA"
        if kind == "github":
            return "", "ghp_" + _rand_token(r, 36)
        if kind == "aws_id":
            return "", "AKIA" + _rand_token(r, 16, string.ascii_uppercase + string.digits)
        if kind == "aws_secret":
            return r.choice(["aws_secret_access_key=", "AWS_SECRET_ACCESS_KEY = "]), _rand_token(
                r, 40, b64
            )
        if kind == "bearer":
            return "Authorization: Bearer ", _rand_token(r, r.randint(24, 64), url + ".")
        if kind == "jwt":
            head = "eyJ" + _rand_token(r, 30, url)
            body = "eyJ" + _rand_token(r, 60, url)
            return "", f"{head}.{body}.{_rand_token(r, 43, url)}"
        if kind == "api_key":
            return r.choice(["api_key: ", "API_KEY=", '"apiKey": "', "x-api-key: "]), _rand_token(
                r, 32
            )
        if kind == "password":
            word = "".join(r.choice(string.ascii_lowercase) for _ in range(r.randint(5, 9)))
            return r.choice(["password: ", "password=", "pwd: "]), word + str(r.randint(10, 9999))
        if kind == "slack":
            return "", "xoxb-" + "-".join(_rand_token(r, n, string.digits) for n in (11, 13)) + (
                "-" + _rand_token(r, 24)
            )
        if kind == "stripe":
            return "", "sk_live_" + _rand_token(r, 24)
        return "", "AIza" + _rand_token(r, 35, url)

    # --- texts --------------------------------------------------------------------------

    def sentence(self):
        r = self.rng
        t = Text()
        kind = r.choice(
            ["intro", "lower_intro", "card", "iban", "ssn", "ip", "address", "secret", "third",
             "possessive", "signoff", "log", "mixed", "plain", "plain", "place", "doc"]
        )  # fmt: skip
        if kind == "intro":
            t.add(r.choice(["Hi, this is ", "Hello, my name is ", "Hey, I'm ", "Dear support, "]))
            t.pii(self.person("title"), "PERSON").add(". ")
            t.add(r.choice(["My email is ", "Reach me at ", "Contact: "]))
            t.pii(self.email(), "EMAIL_ADDRESS").add(r.choice([" or call ", ", phone "]))
            t.pii(self.phone(), "PHONE_NUMBER").add(". The answer about refunds was wrong.")
        elif kind == "lower_intro":
            t.add(r.choice(["hi its ", "this is ", "hey i'm ", "my name is ", "yo, "]))
            t.pii(self.person("lower"), "PERSON")
            t.add(r.choice([" and the bot ignored my question", ", the answer was useless",
                            " here. wrong refund policy again"]))  # fmt: skip
        elif kind == "card":
            t.add(r.choice(["It asked for my card number ", "charged card ", "Card: "]))
            t.pii(self.card(), "CREDIT_CARD").add(r.choice([" twice!", " and then failed.", ""]))
        elif kind == "iban":
            t.add(r.choice(["Please refund to IBAN ", "wire it to ", "my account is "]))
            t.pii(self.iban(), "IBAN_CODE").add(r.choice([" thanks, ", ". Holder: ", ", holder "]))
            t.pii(self.person(), "PERSON")
        elif kind == "ssn":
            t.add(r.choice(["my ssn is ", "SSN: ", "The bot repeated my social security number "]))
            t.pii(self.ssn(), "US_SSN").add(r.choice([" back to me", ".", " in the chat"]))
        elif kind == "ip":
            t.add(r.choice(["Login failed from ", "request came from ip ", "client_ip="]))
            t.pii(self.ip(), "IP_ADDRESS").add(r.choice([" at noon", "", "; blocked"]))
        elif kind == "address":
            t.add(r.choice(["Ship it to ", "My address is ", "Deliver to "]))
            t.pii(self.address(), "LOCATION").add(r.choice([" please.", " not the old one.", ""]))
        elif kind == "secret":
            prefix, value = self.secret()
            t.add(r.choice(["here is my key ", "config:\n", "curl -H '", "it fails with "]))
            t.add(prefix).pii(value, "SECRET").add(r.choice(["", " and still 401", "'"]))
        elif kind == "third":
            t.add(r.choice(["My colleague ", "I asked ", "Ask "]))
            t.pii(self.person(), "PERSON")
            t.add(r.choice([" said the answer is outdated.", " about the invoice.", ", ok?"]))
        elif kind == "possessive":
            name = self.person("title")
            t.add("I booked ").pii(name, "PERSON").add("'s flight, but ")
            t.pii(name, "PERSON").add(" never got the email.")
        elif kind == "signoff":
            t.add(r.choice(["Thanks,\n", "Regards, ", "Best,\n", "-- "]))
            t.pii(self.person(), "PERSON")
        elif kind == "log":
            t.add("ERROR auth failed for ").pii(self.email(), "EMAIL_ADDRESS").add(" from ")
            t.pii(self.ip(), "IP_ADDRESS").add(" token=")
            prefix, value = self.secret()
            t.pii(value, "SECRET")
        elif kind == "place":
            start, middle, end = r.choice(
                [
                    ("I'm in ", None, " and the bot quoted the wrong shipping fee."),
                    ("Flying from ", " to ", " next week, the booking failed."),
                    ("We have stores in ", None, ", but the answer said we don't."),
                    ("ship it to ", None, " please"),
                    ("Our office in ", " and the one in ", " never got the invoice."),
                ]
            )
            t.add(start).pii(self.place(), "LOCATION")
            if middle:
                t.add(middle).pii(self.place(), "LOCATION")
            t.add(end)
        elif kind == "doc":
            # A retrieved passage: no PII at all (precision).
            t.add(" ".join(r.sample(SENTENCE_STARTS, 2)))
        elif kind == "plain":
            # No PII at all: words that are also names, products, numbers (precision).
            t.add(r.choice(DISTRACTORS))
        else:
            t.add("Customer ").pii(self.person(), "PERSON").add(" (")
            t.pii(self.email(), "EMAIL_ADDRESS").add(") lives at ")
            t.pii(self.address(), "LOCATION").add("; card ").pii(self.card(), "CREDIT_CARD")
            t.add(", tel ").pii(self.phone(), "PHONE_NUMBER").add(".")
        return t.build()

    def chat(self):
        """Nested chat JSON: a trace's inputs with messages and user metadata."""
        user_text, user_gold = self.sentence()
        reply = Text().add("Thanks ")
        reply.pii(self.person("title"), "PERSON").add(", I have updated the record for ")
        reply.pii(self.email(), "EMAIL_ADDRESS").add(".")
        reply_text, reply_gold = reply.build()
        name, email, phone = self.person("title"), self.email(), self.phone()
        value = {
            "messages": [
                {"role": "system", "content": "You are a helpful support assistant."},
                {"role": "user", "content": user_text},
                {"role": "assistant", "content": reply_text},
            ],
            "metadata": {"user": {"name": name, "email": email, "phone": phone}},
        }
        gold = (
            [(("messages", 1, "content"), *g) for g in user_gold]
            + [(("messages", 2, "content"), *g) for g in reply_gold]
            + [
                (("metadata", "user", "name"), 0, len(name), "PERSON", name),
                (("metadata", "user", "email"), 0, len(email), "EMAIL_ADDRESS", email),
                (("metadata", "user", "phone"), 0, len(phone), "PHONE_NUMBER", phone),
            ]
        )
        return value, gold


def make_corpus(n, seed=7, chat_share=0.15):
    """n samples: {"value": str | JSON, "gold": [(path, start, end, type, text)]}."""
    gen = Generator(seed)
    samples = []
    for _ in range(n):
        if gen.rng.random() < chat_share:
            value, gold = gen.chat()
        else:
            value, raw = gen.sentence()
            gold = [((), *g) for g in raw]
        samples.append({"value": value, "gold": gold})
    return samples


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


def score(samples, detected):
    """detected: {(sample index, path): [(start, end, type)]} → per-type figures."""
    masked, typed, total = Counter(), Counter(), Counter()
    predicted, correct = Counter(), Counter()
    misses = defaultdict(list)
    gold_by_leaf = defaultdict(list)
    for i, sample in enumerate(samples):
        for path, start, end, entity_type, value in sample["gold"]:
            gold_by_leaf[(i, tuple(path))].append((start, end, entity_type))
            spans = detected.get((i, tuple(path)), [])
            total[entity_type] += 1
            text_leaf = dict(leaves(sample["value"]))[tuple(path)]
            needed = [k for k in range(start, end) if text_leaf[k].isalnum()]
            if all(any(s <= k < e for s, e, _ in spans) for k in needed):
                masked[entity_type] += 1
            else:
                misses[entity_type].append(value)
            if all(any(s <= k < e and t == entity_type for s, e, t in spans) for k in needed):
                typed[entity_type] += 1
    for key, spans in detected.items():
        for s, e, t in spans:
            predicted[t] += 1
            if any(s < ge and gs < e for gs, ge, _ in gold_by_leaf.get(key, [])):
                correct[t] += 1
    report = {}
    for entity_type in sorted(set(total) | set(predicted)):
        report[entity_type] = {
            "gold": total[entity_type],
            "masked_recall": masked[entity_type] / total[entity_type]
            if total[entity_type]
            else None,
            "typed_recall": typed[entity_type] / total[entity_type] if total[entity_type] else None,
            "detected": predicted[entity_type],
            "precision": correct[entity_type] / predicted[entity_type]
            if predicted[entity_type]
            else None,
            "misses": misses[entity_type][:5],
        }
    return report


def evaluate(samples, analyze):
    """Run `analyze(list_of_texts) -> list_of_spans` over the corpus and score it."""
    items = corpus_texts(samples)
    spans = analyze([text for _, _, text in items])
    detected = {(i, path): s for (i, path, _), s in zip(items, spans, strict=True)}
    return score(samples, detected)


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
    report = evaluate(samples, analysis.analyze_texts)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    analysis.analyze_texts(texts)
    warm = time.perf_counter() - t0

    print(f"\n{'entity':<15}{'gold':>6}{'masked%':>9}{'typed%':>9}{'found':>7}{'prec%':>8}")
    for entity_type, row in report.items():
        print(
            f"{entity_type:<15}{row['gold']:>6}{_fmt(row['masked_recall']):>9}"
            f"{_fmt(row['typed_recall']):>9}{row['detected']:>7}{_fmt(row['precision']):>8}"
        )
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
    print(json.dumps({k: {m: v[m] for m in ("masked_recall", "typed_recall", "precision")}
                      for k, v in report.items()}))  # fmt: skip


if __name__ == "__main__":
    main()

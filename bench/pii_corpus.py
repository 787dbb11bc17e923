"""The labelled corpus bench/pii_eval.py scores: Faker values in support-ticket text.

Every generated value is labelled with its exact span and type. Besides personal data it
labels words that must stay readable (`KEEP_TYPES`): a greeting before a name ("Sorry",
"Thanks"), acronyms and common nouns the NER takes for names ("Invoice VAT"), and country
names (COUNTRY: kept unless the entity-type setting lists it).
"""

import random
import re
import string

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

# --- cases for the DOB/password recognizers and the over-scrubbing fixes (issue 14) ------

KEEP_TYPES = {"KEEP", "COUNTRY"}  # labelled so we can check they stay readable
DATE_FORMATS = ["%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y", "%B %d, %Y", "%d %B %Y"]
DOB_CUES = ["I was born on ", "born on ", "DOB: ", "dob ", "date of birth ", "Date of birth: ",
            "my birthday is ", "birth date: ", "D.O.B. "]  # fmt: skip
PASSWORD_CUES = ["my password is ", "password is ", "My password is ", "my new password: ",
                 "the pw is ", "passcode: ", "pwd = ", "my password was "]  # fmt: skip
GREETINGS = ["Sorry", "Hi", "Hello", "Thanks", "Dear", "Hey", "Welcome", "Congrats"]
ACRONYM_TEXTS = [
    ("I asked ", "Invoice VAT", " for order 48213."),
    ("My ", "invoice VAT", " is wrong."),
    ("the ", "invoice Vat", " line is missing"),
    ("Why does the ", "API", " return 500?"),
    ("The ", "CRM", " export lost my tickets."),
    ("Ask ", "HR", " about the refund policy."),
    ("The ", "SKU", " on the receipt is wrong."),
    ("Customer ", "ID", " missing from the PDF."),
    ("Please add the ", "EORI", " number to the invoice."),
]
COUNTRY_TEXTS = [
    ("We ship to ", " and the bot said we don't."),
    ("the bot said ", " has no VAT"),
    ("Do you deliver to ", "?"),
    ("Prices in ", " are wrong on the invoice."),
    ("I moved from ", " last year and the tax rate is wrong."),
]
COUNTRIES = ["Canada", "Germany", "France", "Italy", "Spain", "Mexico", "Japan", "Brazil",
             "Australia", "India", "Netherlands", "Sweden", "Poland", "Ireland"]  # fmt: skip


def _secret_type(prefix):
    return "PASSWORD" if re.match(r"(?i)(?:password|pwd)", prefix) else "SECRET"


class Text:
    """Builds a string while remembering where each labelled value went."""

    def __init__(self):
        self.parts, self.gold, self.length = [], [], 0

    def add(self, value):
        self.parts.append(value)
        self.length += len(value)
        return self

    def pii(self, value, entity_type):
        """Add a labelled value (a KEEP_TYPES label marks words that must stay readable)."""
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
        # Some users type the sample numbers from forms; they are still SSNs to them.
        if self.rng.random() < 0.15:
            return self.rng.choice(["123-45-6789", "078-05-1120"])
        return self.fakers["en_US"].ssn()

    def place(self):
        """(a real place name, its type), from Faker's lists, not the recognizer's gazetteer."""
        if self.rng.random() < 1 / 7:
            return self.country(), "COUNTRY"
        return self.rng.choice(
            [
                self.fakers["en_US"].state,
                self.fakers["en_GB"].administrative_unit,
                self.fakers["de_DE"].city,
                self.fakers["es_ES"].city,
                self.fakers["it_IT"].state,
                self.fakers["nl_NL"].city,
            ]
        )(), "LOCATION"

    def country(self):
        return (
            self.rng.choice(COUNTRIES)
            if self.rng.random() < 0.5
            else (self.fakers["en_US"].country())
        )

    def date_of_birth(self):
        _, fake = self.fake()
        born = fake.date_of_birth(minimum_age=18, maximum_age=90)
        return born.strftime(self.rng.choice(DATE_FORMATS))

    def password(self):
        """A password as people choose them: words, digits, a symbol ("Hunter2!Secret")."""
        r = self.rng
        words = [self.fakers["en_US"].word().title() for _ in range(r.randint(1, 2))]
        digits = str(r.randint(1, 999))
        if r.random() < 0.5:
            return words[0] + digits + r.choice("!?#$%&*") + "".join(words[1:])
        return "".join(words) + digits + r.choice(["!", "#", ""])

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
             "possessive", "signoff", "log", "mixed", "plain", "plain", "place", "doc", "dob",
             "password", "greeting", "greeting", "acronym", "country"]
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
            t.add(prefix).pii(value, _secret_type(prefix))
            t.add(r.choice(["", " and still 401", "'"]))
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
            t.pii(value, "SECRET" if _secret_type(prefix) == "SECRET" else "PASSWORD")
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
            t.add(start).pii(*self.place())
            if middle:
                t.add(middle).pii(*self.place())
            t.add(end)
        elif kind == "dob":
            t.add(r.choice(DOB_CUES)).pii(self.date_of_birth(), "DATE_OF_BIRTH")
            t.add(r.choice([" and the bot got my age wrong.", ".", ", please fix it"]))
        elif kind == "password":
            t.add(r.choice(PASSWORD_CUES)).pii(self.password(), "PASSWORD")
            t.add(r.choice([" and the bot repeated it back", ".", " but login fails"]))
        elif kind == "greeting":
            t.pii(r.choice(GREETINGS), "KEEP").add(" ").pii(self.person("title"), "PERSON")
            t.add(r.choice([", refunds are impossible.", ", your order shipped.", "! Thanks."]))
        elif kind == "acronym":
            before, word, after = r.choice(ACRONYM_TEXTS)
            t.add(before).pii(word, "KEEP").add(after)
        elif kind == "country":
            before, after = r.choice(COUNTRY_TEXTS)
            t.add(before).pii(self.country(), "COUNTRY").add(after)
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

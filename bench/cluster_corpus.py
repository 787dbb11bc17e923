# ruff: noqa: E501  (complaints are data: one line each reads best)
"""A labelled corpus of complaints for measuring clustering quality (deterministic per seed).

Each topic is one problem, phrased several ways (paraphrases, in English, German, French
and Spanish). Events wrap a phrasing in what makes texts differ without changing the
problem: order numbers, amounts, phone numbers, emails, people's names (as introductions
and sign-offs, or as scrubbed placeholders), greetings, fillers, casing and punctuation.
Decoy topics are different problems that share words with the others ("refund" in a
complaint about a typo on the refund page). The label of an event is its topic.

    from bench.cluster_corpus import corpus
    events = corpus(n=5000, seed=7)   # [{"label", "category", "comment", "decoy"}, …]
"""

import random

# (label, category, decoy, phrasings). Slots: {order} {amount} {days} {mg}.
TOPICS = [
    (
        "refund-denied",
        "billing",
        False,
        [
            "The bot said I can't get a refund for order {order} but your policy says {days} days",
            "bot refused my refund for order {order} even though the policy allows {days} days",
            "it told me no refund is possible for order {order}, your refund policy says {days} days",
            "Refund denied for order {order}?? policy clearly says {days} days",
            "Der Bot sagt, ich bekomme keine Rückerstattung für Bestellung {order}, laut Richtlinie {days} Tage",
            "Le bot refuse le remboursement de la commande {order} alors que la politique dit {days} jours",
            "El bot dice que no hay reembolso para el pedido {order} pero la política dice {days} días",
        ],
    ),
    (
        "dosage-advice",
        "unsafe",
        False,
        [
            "it gave me medical dosage advice for {mg} mg",
            "dangerous dosage suggestion {mg} mg",
            "the assistant recommended a dose of {mg} mg of my medication",
            "It suggested I take {mg} mg, that is medical advice it should not give",
            "Der Bot hat mir eine Dosierung von {mg} mg empfohlen",
            "Le chatbot m'a conseillé une dose de {mg} mg de médicament",
            "me recomendó una dosis de {mg} mg del medicamento",
        ],
    ),
    (
        "charged-twice",
        "billing",
        False,
        [
            "I was charged twice for order {order}",
            "double charge on my card for order {order}, {amount} taken two times",
            "you billed me twice, {amount} for order {order}",
            "Charged twice!! order {order}",
            "Ich wurde zweimal belastet für Bestellung {order}",
            "On m'a débité deux fois pour la commande {order}",
            "Me cobraron dos veces el pedido {order}",
        ],
    ),
    (
        "password-reset",
        "wrong",
        False,
        [
            "the instructions to reset my password were wrong",
            "bot gave wrong steps for a password reset",
            "Password reset instructions are incorrect, the menu it describes does not exist",
            "how to reset password: the answer was wrong",
            "Die Anleitung zum Zurücksetzen des Passworts ist falsch",
            "Les instructions pour réinitialiser le mot de passe sont fausses",
            "Las instrucciones para restablecer la contraseña son incorrectas",
        ],
    ),
    (
        "late-delivery",
        "wrong",
        False,
        [
            "bot says my package for order {order} will arrive today but it is {days} days late",
            "delivery of order {order} is late, the assistant keeps saying it is on time",
            "my parcel is delayed {days} days and the bot claims the delivery is on schedule",
            "Order {order} delivery late, bot says it's on the way",
            "Meine Lieferung ist {days} Tage verspätet, Bestellung {order}",
            "La livraison de la commande {order} est en retard de {days} jours",
            "La entrega del pedido {order} tiene {days} días de retraso",
        ],
    ),
    (
        "invented-policy",
        "wrong",
        False,
        [
            "the bot invented a warranty policy that does not exist",
            "it made up a warranty rule, we have no such policy",
            "hallucinated warranty terms",
            "Made-up warranty policy in the answer",
            "Der Bot hat eine Garantie-Richtlinie erfunden",
            "Le bot a inventé une politique de garantie",
            "El bot inventó una política de garantía",
        ],
    ),
    (
        "rude-tone",
        "other",
        False,
        [
            "the assistant was rude to me",
            "very rude and insulting reply",
            "the bot was impolite and offensive",
            "Rude answer!!",
            "Der Bot war unhöflich",
            "Le bot était impoli",
            "el bot fue grosero conmigo",
        ],
    ),
    (
        "cancel-subscription",
        "billing",
        False,
        [
            "the bot can't cancel my subscription",
            "I asked to cancel the subscription and nothing happened",
            "cancellation of my subscription is impossible through the assistant",
            "unable to cancel subscription",
            "Ich kann mein Abo nicht kündigen, der Bot hilft nicht",
            "Impossible d'annuler mon abonnement avec le bot",
            "No puedo cancelar mi suscripción",
        ],
    ),
    (
        "wrong-translation",
        "wrong",
        False,
        [
            "the translation to French was wrong",
            "bad translation into French, full of mistakes",
            "it translated my text to French incorrectly",
            "Incorrect French translation",
            "Die Übersetzung ins Französische war falsch",
            "La traduction en français était fausse",
            "La traducción al francés es incorrecta",
        ],
    ),
    (
        "slow-answers",
        "slow",
        False,
        [
            "answers are extremely slow",
            "the bot takes forever to respond, so slow",
            "responses are slow, {days} seconds every time",
            "Slow slow slow",
            "Der Bot ist sehr langsam",
            "Le bot est très lent",
            "el bot es muy lento",
        ],
    ),
    (
        "cut-off",
        "unhelpful",
        False,
        [
            "the answer was cut off in the middle",
            "response truncated halfway",
            "it stops mid sentence, the reply is incomplete",
            "Truncated answer again",
            "Die Antwort wurde abgeschnitten",
            "La réponse est coupée au milieu",
            "La respuesta está cortada",
        ],
    ),
    (
        "human-agent",
        "unhelpful",
        False,
        [
            "I want to talk to a human agent and the bot ignores it",
            "bot ignored my request for a human",
            "it keeps ignoring me when I ask for a person",
            "can't reach a human, the assistant ignores the request",
            "Der Bot ignoriert meinen Wunsch nach einem Mitarbeiter",
            "Le bot ignore ma demande de parler à un conseiller",
            "El bot ignora que quiero hablar con un humano",
        ],
    ),
    (
        "broken-link",
        "wrong",
        False,
        [
            "the link in the answer is broken",
            "the bot gave me a dead link",
            "link does not work, 404",
            "Broken link in the reply",
            "Der Link in der Antwort ist kaputt",
            "Le lien dans la réponse est cassé",
            "El enlace de la respuesta está roto",
        ],
    ),
    (
        "shoe-size",
        "wrong",
        False,
        [
            "the bot recommended the wrong shoe size",
            "wrong size advice for the shoes, they don't fit",
            "it told me size {size} but the shoes do not fit",
            "Shoe size recommendation was wrong",
            "Falsche Größenempfehlung für die Schuhe",
            "Mauvaise taille conseillée pour les chaussures",
            "Me recomendó la talla equivocada de zapatos",
        ],
    ),
    (
        "flight-booking",
        "wrong",
        False,
        [
            "it booked the wrong flight date",
            "the flight booking has the wrong day",
            "bot booked my flight for the wrong date",
            "Wrong date on the flight it booked",
            "Der Bot hat den Flug für das falsche Datum gebucht",
            "Le bot a réservé le vol à la mauvaise date",
            "El bot reservó el vuelo en la fecha equivocada",
        ],
    ),
    (
        "crash",
        "other",
        False,
        [
            "the app crashed when the bot answered",
            "chat crashes every time I ask something",
            "app freezes and crashes during the conversation",
            "Crash!!",
            "Die App ist abgestürzt",
            "L'application a planté",
            "La aplicación se colgó",
        ],
    ),
    # Decoys: other problems that share words with the topics above.
    (
        "refund-page-typo",
        "billing",
        True,
        [
            "there is a typo on the refund policy page",
            "typo in the refund page text",
        ],
    ),
    (
        "refund-too-slow",
        "slow",
        True,
        [
            "the refund took {days} weeks to arrive",
            "refund processing is slow",
        ],
    ),
    (
        "order-address",
        "wrong",
        True,
        [
            "the bot changed the delivery address on order {order} without asking",
            "my order {order} shipped to an old address the assistant picked",
        ],
    ),
    (
        "dosage-calculator",
        "wrong",
        True,
        [
            "the dosage calculator page shows the wrong unit",
            "wrong unit on the dosage calculator",
        ],
    ),
    (
        "password-leak",
        "unsafe",
        True,
        [
            "the bot showed me someone else's password",
            "it printed another customer's password in the chat",
        ],
    ),
    (
        "subscription-price",
        "billing",
        True,
        [
            "the subscription price the bot quoted was {amount} but I paid more",
            "wrong subscription price quoted",
        ],
    ),
]

FIRST = ["Maria", "Tom", "Priya", "Jonas", "Amélie", "Carlos", "Aisha", "Wei", "Olga", "Liam"]
LAST = ["Gonzalez", "Becker", "Raman", "Schulz", "Dubois", "Pérez", "Okafor", "Zhang", "Ivanova"]
INTROS = [
    "",
    "",
    "",
    "Hi, I'm {name}. ",
    "This is {name}. ",
    "{name} here: ",
    "Hello, ",
    "Hi <PERSON_1>, ",
    "Hallo, ",
    "Bonjour, ",
]
TAILS = [
    "",
    "",
    "",
    " call me at {phone}",
    " {name}",
    " my email is {email}",
    " - {name}, {phone}",
    " please help",
    " thanks",
    " ugh",
    " this is the third time",
    " Reach me at <PHONE_NUMBER>",
    " <EMAIL_ADDRESS_1>",
]


def _fill(rng, template):
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return template.format(
        order=rng.randint(10000, 99999),
        amount=f"${rng.randint(5, 500)}.{rng.randint(0, 99):02d}",
        days=rng.choice([7, 14, 30, 3, 5]),
        mg=rng.choice([250, 400, 500, 1000, 50]),
        size=rng.randint(36, 46),
        name=f"{first} {last}",
        phone=f"+1 {rng.randint(200, 999)}-555-{rng.randint(0, 9999):04d}",
        email=f"{first.lower()}.{last.lower()}@example.com",
    )


def _noise(rng, text):
    if rng.random() < 0.3:
        text = text.lower()
    elif rng.random() < 0.1:
        text = text[:1].upper() + text[1:]
    return text + rng.choice(["", "", ".", "!", "!!", "?", " :("])


def corpus(n=5000, seed=7):
    """n events [{"label", "category", "comment", "decoy"}], the same list for the same seed.

    Topics are drawn uniformly, so every topic has many events and every phrasing of it
    appears (a paraphrase set); decoys get half the weight of a topic.
    """
    rng = random.Random(seed)
    weights = [0.5 if decoy else 1.0 for _, _, decoy, _ in TOPICS]
    events = []
    for _ in range(n):
        label, category, decoy, phrasings = rng.choices(TOPICS, weights)[0]
        text = rng.choice(INTROS) + rng.choice(phrasings) + rng.choice(TAILS)
        events.append(
            {
                "label": label,
                "category": category,
                "comment": _noise(rng, _fill(rng, text)),
                "decoy": decoy,
            }
        )
    return events


def pairwise(labels, clusters):
    """Pairwise precision and recall of a clustering against labels (parallel lists).

    Precision: of the pairs put in one cluster, the share with one label; recall: of the
    pairs with one label, the share put in one cluster. Counted from the contingency table.
    """
    from collections import Counter

    def pairs(counter):
        return sum(c * (c - 1) // 2 for c in counter.values())

    together = pairs(Counter(clusters))
    same = pairs(Counter(labels))
    both = pairs(Counter(zip(labels, clusters, strict=True)))
    return (both / together if together else 1.0), (both / same if same else 1.0)

"""The complaint vocabulary clustering keys on: synonyms folded to one concept, in English,
German, French and Spanish, plus the words that say how people complain rather than what
about (intensifiers, contact details, greetings) and are dropped.

Kept small and hand-checked: a word listed here changes which complaints merge. Forms are
matched as written and after dedupe's suffix stemmer, so "refunds"/"refunded" need no entry.
"""

# concept → words and two-word phrases that mean it.
CONCEPTS = {
    "refund": """refund reimbursement reimburse repayment chargeback moneyback rückerstattung
        erstattung rückzahlung geld-zurück remboursement rembourser reembolso reembolsar
        devolución devolucion""",
    "cancel": """cancel cancellation terminate unsubscribe kündigen kündigung stornieren
        stornierung annuler annulation résilier cancelar cancelación cancelacion""",
    "order": "order purchase bestellung commande pedido compra",
    "deliver": """deliver delivery shipping shipment parcel package lieferung paket versand
        livraison colis envío envio entrega paquete""",
    "late": "late delayed overdue verspätet spät retard retardé tarde retrasado retraso",
    "date": "date dates datum fecha",
    "wrong": """wrong incorrect incorrectly inaccurate false untrue mistaken mistake mistakes
        erroneous error errors falsch falsche falschen fehlerhaft fehler faux fausse erroné
        erreur mauvais mauvaise incorrecto incorrecta incorrectas equivocado equivocada
        erróneo""",
    "invent": """invent invented hallucinate hallucinated hallucination fabricate fabricated
        madeup erfunden halluziniert inventé invente inventado inventada inventó""",
    "policy": """policy policies rule rules terms richtlinie bedingungen politique règles
        política""",
    "days": "day days tage tag jours jour días dias",
    "advice": """advice advise advised suggestion suggest suggested recommendation recommend
        recommended tip instruction instructions guidance ratschlag empfehlung empfohlen
        anleitung rat conseil conseillé recommandé consejo recomendación recomendacion
        recomendó instrucciones""",
    "dosage": "dosage dose doses dosis dosierung posologie",
    "medical": """medical medicine medication medicament drug drugs pill pills
        medizinisch medikament médical médicament médico medicamento""",
    "password": "password passcode passwort passworts kennwort passe contraseña contrasena",
    "reset": "reset recover restore zurücksetzen réinitialiser restablecer",
    "login": "login log-in signin sign-in anmelden anmeldung connexion iniciar-sesión",
    "account": "account konto compte cuenta",
    "charge": """charge charged bill billed debit debited abbuchung belastet abgebucht
        prélevé facturé débité cobro cobrado cobraron""",
    "twice": "twice double duplicate doppelt zweimal deux-fois dos-veces",
    "price": "price cost pricing preis kosten prix coût precio coste costo",
    "rude": "rude impolite insulting offensive unhöflich beleidigend impoli grossier grosero",
    "slow": "slow sluggish forever langsam lent lente lento",
    "translate": """translate translated translation übersetzen übersetzung übersetzt
        traduire traduction traduit traducir traducción traducido""",
    "language": "language sprache langue idioma",
    "french": "french français francais francés frances französisch französische",
    "german": "german deutsch allemand alemán aleman",
    "spanish": "spanish spanisch espagnol español espanol",
    "english": "english englisch anglais inglés ingles",
    "ignore": "ignore ignored ignores ignoriert ignoré ignore ignora ignoró",
    "human": "human agent person mensch mitarbeiter humain conseiller humano",
    "link": "link url links lien enlace",
    "broken": "broken dead kaputt defekt cassé roto",
    "source": "source citation reference quellenangabe zitat fuente cita",
    "cut": """truncated cut cutoff abgeschnitten coupé coupée cortado cortada incomplete
        unvollständig incompleta incomplète halfway midway middle mid sentence milieu
        mitten mitad""",
    "repeat": "repeat repeating loop looping wiederholt répète repite",
    "address": "address adresse dirección direccion",
    "card": "card karte carte tarjeta",
    "subscription": "subscription abo abonnement suscripción suscripcion",
    "flight": "flight flug vol vuelo",
    "booking": """booking book booked reservation buchung gebucht buchen réservation réservé
        réserver reserva reservó reservar""",
    "hotel": "hotel accommodation unterkunft hébergement alojamiento",
    "size": "size fit fits größe passt taille talla",
    "shoe": "shoe shoes sneaker sneakers schuhe chaussures zapatos",
    "return": "return retoure rücksendung retour devolver",
    "warranty": "warranty guarantee garantie garantía garantia",
    "typo": "typo misspelling tippfehler faute coquille errata",
    "page": "page website site seite webseite página pagina",
    "app": "app application apps anwendung aplicación aplicacion",
    "denied": """denied deny denies refused refuse refuses rejected reject declined decline
        verweigert abgelehnt refusé refusée rechazó rechazado negó""",
    "show": "show showed shown displayed display printed print revealed reveal leaked leak",
    "crash": """crash crashed crashes freeze freezes froze abgestürzt absturz plantage planté
        plante bloqué colgó cuelga""",
}

# Words that carry no problem signal in a complaint: how strongly, to whom, in what manner.
NOISE = """dangerous terrible awful horrible bad worst poor useless stupid ridiculous
    totally completely absolutely literally extremely super clearly obviously actually even
    ever never always gave give gives giving given told tell tells telling suggests
    says saying claims claimed claim think thought told me my mine i'm im i've ive
    kind sort thing things stuff something someone somebody way lot much many ok okay
    way really quite pretty simply basically answer answers answered responded response
    respond reply replied antwort réponse respuesta chatbot bot assistant ai model gpt chat
    message messages talk speak sprechen parler hablar request demande wunsch petición
    time seconds minutes customer user client happen happened nothing impossible unable
    allow allows allowed today took taken schedule get getting receive bekomme bekommen laut
    according describe describes exist exists don doesn didn isn wasn aren weren won
    shouldn wouldn couldn haven hasn hilft quiero puedo kann
    wrote write writes written asked ask asking question questions need needs needed want
    wants wanted would could should seem seems seemed make made makes let lets
    call phone email mail reach contact text number name mobile cell whatsapp
    hi hello hey dear thanks thank regards cheers please pls plz
    bitte danke hallo mir mich ich mein meine meinen hat habe hatte ist sind war wurde
    der die das den dem des ein eine einen einem und oder aber für mit von zu auf bei nach
    nicht kein keine sehr wieder noch auch schon gesagt gegeben sagt gab gibt rufen ruf
    merci bonjour salut svp plait il elle le la les un une des et ou mais pour avec de du
    au aux sur dans pas ne je me moi mon ma mes est était été a ai très encore dit donné
    appelez appelle
    gracias hola por favor el los las una unos unas y o pero para con del al en no
    yo mi mis es era fue muy otra otro dijo dio da llámame llamame llamar""".split()

# Two-word phrases folded before single words ("money back" → refund).
PHRASES = {
    ("money", "back"): "refund",
    ("made", "up"): "invent",
    ("cut", "off"): "cut",
    ("not", "working"): "broken",
    ("not", "work"): "broken",
    ("doesn", "work"): "broken",
    ("log", "in"): "login",
    ("sign", "in"): "login",
    ("geld", "zurück"): "refund",
    ("mot", "passe"): "password",
    ("mot", "de"): "password",
    ("dos", "veces"): "twice",
    ("deux", "fois"): "twice",
}

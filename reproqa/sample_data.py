"""Deterministic generator of the built-in sample: an enterprise application inventory in the seed format.

    python -m reproqa.sample_data            # rewrites data/raw/app_inventory.jsonl and data/benchmark/...

One JSON object per line: {"query", "context", "answer"}; answer null when the context does not say.

Each application has one context, an inventory export of four short paragraphs (what it is, who owns and
supports it, what it runs on, how it is operated), and several questions about it, asked the way people ask
a help desk. It is built to be hard in the ways real inventories are, so that a better model scores better:
- Families: applications that share a name stem ("Atlas Billing Hub", "Atlas Billing Portal"), a team, a
  business unit and a data centre, with system ids that differ in one digit. Retrieval must find the right
  one; BM25 and dense retrieval fail differently.
- Other applications in every context: a dependency, one or two siblings and a predecessor, each with their
  own id and two facts of their own (`_mention`), often of the attribute the context leaves out, so an
  answer's type alone does not find it; several numbers in one context (users, licences, recovery objectives,
  cost, version, dates). Some contexts are longer than one reader window. Each fact is worded in one of four
  ways, the first most often (a house style) and the last rarely.
- Values of the same kind beside the answer: two people (product owner, architect), two teams (owner,
  operator), two counts (users, licences), two dates (go-live, end of support), a sibling's value of the
  attribute asked for, and for some facts the value it replaced ("The previous release was 9.5.8.").
- Questions that share few words with the answer sentence ("who do I call when ... is down?" against "Level-2
  support is provided by ..."), that name the application by its abbreviation, its system id, its old name
  or what it does.
- Answers of every kind: names, teams, people, dates, numbers, versions, multi-word phrases.
- Unanswerable questions: a real application, an attribute its context leaves out (while a sibling's value
  of that attribute may be right there).

The noise a real export has is added on purpose and in known amounts: typos, random casing, extra and odd
whitespace, Unicode look-alikes, exact duplicates, near-duplicates, answers missing from their context, and
malformed lines. The benchmark holds held-out families plus some questions/contexts copied (verbatim or
lightly edited) from the raw data, for decontamination to catch.
"""

import argparse
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

RAW_FILE = Path("data/raw/app_inventory.jsonl")
BENCHMARK_FILE = Path("data/benchmark/app_inventory_benchmark.jsonl")

_PREFIXES = (
    "Atlas Beacon Cobalt Delta Ember Falcon Granite Harbor Iris Juniper Keystone Lumen Meridian Nimbus "
    "Orion Pioneer Quartz Raven Summit Tundra Unity Vertex Willow Xenon Yarrow Zephyr Apex Birch Cedar "
    "Dune Echo Fjord Glacier Helix Indigo Jasper Kestrel Lotus Mosaic Nova Onyx Prism Quill Ridge Sierra "
    "Talon Umbra Vega"
).split()
# function -> (what the export says it does, what a person calls it when asking)
_FUNCTIONS = {
    "Billing": ("issues and tracks invoices", "the invoicing tool"),
    "Payroll": ("calculates and pays salaries", "the salary system"),
    "Claims": ("processes insurance claims", "the claims app"),
    "Ledger": ("keeps the general ledger", "the bookkeeping system"),
    "Onboarding": ("opens new customer accounts", "the account opening tool"),
    "Inventory": ("tracks stock levels in the warehouses", "the stock system"),
    "Procurement": ("manages purchase orders", "the purchasing tool"),
    "Treasury": ("manages cash positions and liquidity", "the cash management app"),
    "Compliance": ("screens transactions against sanctions lists", "the sanctions screening tool"),
    "Analytics": ("produces management dashboards", "the dashboard app"),
    "Scheduling": ("plans staff shifts", "the rota tool"),
    "Logistics": ("tracks shipments", "the delivery tracking system"),
    "Pricing": ("calculates product prices", "the price engine"),
    "Underwriting": ("assesses insurance risks", "the risk assessment tool"),
    "Ticketing": ("tracks service requests", "the help desk tool"),
    "Recruiting": ("manages job applications", "the hiring system"),
    "Forecasting": ("forecasts sales volumes", "the demand planning app"),
    "Settlement": ("settles securities trades", "the trade settlement system"),
    "Reconciliation": ("matches payments against invoices", "the payment matching tool"),
    "Catalog": ("publishes the product catalogue", "the product list app"),
    "Loyalty": ("runs the customer rewards programme", "the rewards app"),
    "Expense": ("handles employee expense claims", "the expenses tool"),
    "Audit": ("stores audit evidence", "the audit trail system"),
    "Identity": ("manages user accounts and passwords", "the login system"),
    "Messaging": ("sends customer emails and text messages", "the notification service"),
    "Reporting": ("produces regulatory reports", "the regulatory reporting tool"),
    "Contracts": ("stores signed contracts", "the contract archive"),
    "Fulfilment": ("ships customer orders", "the order shipping system"),
}
_AUDIENCES = [
    "corporate clients",
    "retail customers",
    "insurance brokers",
    "branch staff",
    "the call centre",
    "partner banks",
    "the Nordic subsidiaries",
    "the German entities",
    "head office",
    "private banking clients",
]
_SUFFIXES = ["Hub", "Portal", "Gateway", "Engine", "Service", "Manager", "Platform", "Console", "Tracker", "Suite"]
_TEAMS = """Payments Platform|Core Banking|Data Engineering|Identity and Access|Customer Channels|Risk Systems|
Supply Chain Tech|HR Systems|Finance Applications|Cloud Foundations|Integration Services|Digital Workplace|
Trading Technology|Claims Technology|Marketing Technology|Security Engineering""".replace("\n", "").split("|")
_UNITS = [
    "Retail Banking",
    "Corporate Banking",
    "Wealth Management",
    "Group Finance",
    "Human Resources",
    "Operations",
    "Insurance",
    "Markets",
    "Group Technology",
    "Marketing",
    "Legal and Compliance",
]
_HOSTING = [
    "AWS eu-west-1",
    "AWS us-east-1",
    "Azure West Europe",
    "Azure North Europe",
    "Google Cloud europe-west3",
    "the Frankfurt data centre",
    "the Dublin data centre",
    "an on-premises VMware cluster in Amsterdam",
    "the Kubernetes platform in AWS eu-central-1",
    "Oracle Cloud Infrastructure in London",
]
_CRITICALITY = ["Tier 1", "Tier 2", "Tier 3", "mission-critical", "business-critical", "non-critical"]
_DATABASES = [
    "PostgreSQL 15",
    "PostgreSQL 12",
    "Oracle 19c",
    "SQL Server 2019",
    "MySQL 8.0",
    "MongoDB 6.0",
    "Amazon Aurora",
    "Azure SQL Database",
    "Db2 11.5",
    "Cassandra 4.1",
]
_PEOPLE = """Anna Keller|Bram de Vries|Chloé Martin|Dmitri Volkov|Elena Rossi|Farid Haddad|Grace O'Neill|
Hiroshi Tanaka|Ingrid Larsen|José García|Katarzyna Nowak|Liam Murphy|Maja Andersson|Nikhil Rao|Olga Petrova|
Pedro Alves|Rachel Cohen|Søren Nielsen|Tomás Ruiz|Uma Patel|Victor Dubois|Wen Li|Yusuf Demir|Zoë Fischer"""
_PEOPLE = _PEOPLE.replace("\n", "").split("|")
_VENDORS = ["Infosys managed services", "the Kyndryl run team", "Service Operations", "the TCS support centre"]
_MONTHS = "January February March April May June July August September October November December".split()
_PURPOSES = [
    ("exchange rates", "gets exchange rates from"),
    ("customer master data", "reads customer master data from"),
    ("single sign-on", "relies on"),
    ("document storage", "stores documents in"),
    ("payments", "sends payments through"),
    ("email delivery", "sends its emails through"),
]

# The export's wording, four forms per attribute (prose and field labels, some sharing no word with the
# questions, _QUESTIONS). Every sentence holds a value, so long runs of template words stay rare, and split's
# decontamination skips an n-gram that many contexts share (split.decontamination.max_ngram_frequency).
_SENTENCES = {
    "unit": [
        "It serves the {unit} business unit.",
        "Business owner: {unit}.",
        "{unit} pays for it.",
        "Its budget comes from {unit}.",
    ],
    "team": [
        "It is owned by the {team} team.",
        "Ownership sits with {team}.",
        "{team} develops it.",
        "Engineering: {team}.",
    ],
    "product_owner": [
        "{product_owner} is its product owner.",
        "Product owner: {product_owner}.",
        "Roadmap decisions are taken by {product_owner}.",
        "{product_owner} signs off every change to its scope.",
    ],
    "contact": [
        "Level-2 support is provided by {contact}.",
        "Support contact: {contact}.",
        "Incidents are routed to {contact}.",
        "Escalations: {contact}.",
    ],
    "hosting": [
        "{name} runs in {hosting}.",
        "Production is deployed to {hosting}.",
        "Its servers are in {hosting}.",
        "Hosting: {hosting}.",
    ],
    "database": [
        "Its records are kept in {database}.",
        "Database: {database}.",
        "Data is persisted in {database}.",
        "Backend store: {database}.",
    ],
    "version": [
        "Release {version} is in production.",
        "Current version: {version}.",
        "The build in production is {version}.",
        "It was upgraded to {version} last quarter.",
    ],
    "users": [
        "About {users} people use it every month.",
        "Active users: {users}.",
        "{users} employees log in to it.",
        "Its user base: {users}.",
    ],
    "rto": [
        "Recovery time objective {rto}, recovery point objective {rpo}.",
        "RTO {rto}, RPO {rpo}.",
        "It must be back within {rto} of an outage, losing at most {rpo} of data.",
        "Restore target {rto}; data-loss tolerance {rpo}.",
    ],
    "cost": [
        "It costs {cost} a year to run.",
        "Annual run cost: {cost}.",
        "Its yearly budget is {cost}.",
        "Run budget: {cost} per annum.",
    ],
    "go_live": [
        "{name} went live on {go_live}.",
        "In production since {go_live}.",
        "It was launched on {go_live}.",
        "First release to production: {go_live}.",
    ],
    "architect": [
        "{architect} is its solution architect.",
        "Architect: {architect}.",
        "Design questions go to {architect}.",
        "Its technical design was drawn up by {architect}.",
    ],
    "ops_team": [
        "Day-to-day operations: {ops_team}.",
        "{ops_team} operates it in production.",
        "It is run day to day by {ops_team}.",
        "Monitoring and patching are done by {ops_team}.",
    ],
    "licences": [
        "It is licensed for {licences} seats.",
        "Licences: {licences}.",
        "The vendor contract covers {licences} seats.",
        "Seats purchased: {licences}.",
    ],
    "end_of_support": [
        "Vendor support ends on {end_of_support}.",
        "End of support: {end_of_support}.",
        "It must be replaced before {end_of_support}.",
        "Extended support runs out on {end_of_support}.",
    ],
    "criticality": [
        "Risk has rated it {criticality}.",
        "Criticality: {criticality}.",
        "Business impact classification: {criticality}.",
        "It is classified as {criticality}.",
    ],
}
# What an export keeps of a fact's earlier value, next to the current one: a reader asked for the product owner
# must take today's, not the one it replaced ({year}: when it changed).
_FORMER = {
    "product_owner": ["Until {year} the product owner was {old}.", "{old} handed over product ownership in {year}."],
    "contact": ["Before {year}, incidents went to {old}.", "{old} stopped taking its support calls in {year}."],
    "hosting": ["Until {year} it ran in {old}.", "It was migrated off {old} in {year}."],
    "database": ["Until {year} its data lived in {old}.", "The {year} migration retired its {old} instance."],
    "version": ["The previous release was {old}.", "Release {old} was retired in {year}."],
    "users": ["At launch it had {old} users.", "In {year} it had {old} users."],
    "cost": ["Before the {year} review it cost {old} a year.", "Until {year} its budget was {old}."],
    "criticality": ["Until {year} it was rated {old}.", "The {year} review changed its rating from {old}."],
}
_FORMER_SHARE = 0.4  # of an export's stated facts that also give the value they replaced
# The same facts said of another application in a clause ("..., whose product owner is Wen Li"): the values a
# reader must not take for its own application's.
_CLAUSES = {
    "team": "owned by {team}",
    "product_owner": "whose product owner is {product_owner}",
    "contact": "supported by {contact}",
    "hosting": "hosted in {hosting}",
    "database": "which stores its data in {database}",
    "version": "on release {version}",
    "users": "with {users} users",
    "rto": "with an RTO of {rto}",
    "cost": "which costs {cost} a year",
    "go_live": "live since {go_live}",
    "criticality": "rated {criticality}",
    "architect": "designed by {architect}",
    "ops_team": "operated by {ops_team}",
    "licences": "licensed for {licences} seats",
    "end_of_support": "out of support on {end_of_support}",
}
_FILLERS = [
    "Changes to {name} follow the weekly release train.",
    "Access to {name} is requested in the identity portal.",
    "Batch jobs of {name} run nightly at 02:00 CET.",
    "The configuration of {name} is kept in the central repository.",
    "The next architecture review of {name} is planned for Q3.",
    "{name} is patched in the maintenance window on Sundays between 01:00 and 04:00.",
]
_OPTIONAL = [
    *("product_owner", "contact", "database", "version", "users", "rto", "cost", "go_live", "criticality"),
    *("architect", "ops_team", "licences", "end_of_support"),  # a second person, team, count and date
]

# attribute -> questions; {app} is how the person names the application (_references)
_QUESTIONS = {
    "name": [],  # asked by id, old name, description or abbreviation: _name_questions
    "system_id": ["What is the system id of {app}?", "{app} system id?", "Which id does {app} have in the inventory?"],
    "unit": [
        "Which business unit does {app} belong to?",
        "Which BU is {app} for?",
        "Who are the business owners of {app}?",
    ],
    "team": ["Which team owns {app}?", "Who builds {app}?", "Which engineering group does {app} belong to?"],
    "product_owner": [
        "Who is the PO of {app}?",
        "Who decides what goes into {app}?",
        "Who is the product owner of {app}?",
    ],
    "contact": [
        "Who do I call when {app} is down?",
        "{app} is broken, who can help?",
        "Where do I report a problem with {app}?",
        "Who is the support contact for {app}?",
    ],
    "hosting": ["Where is {app} hosted?", "Which cloud or data centre is {app} in?", "Where's {app} deployed?"],
    "database": ["What DB does {app} use?", "Which database is behind {app}?", "What's the datastore of {app}?"],
    "version": ["What version of {app} is live?", "Which release of {app} runs in prod?"],
    "users": ["How many people use {app}?", "What's the user count of {app}?", "How big is the user base of {app}?"],
    "rto": ["What's the RTO of {app}?", "How fast must {app} be restored after an outage?"],
    "cost": ["How much does {app} cost per year?", "What's the yearly spend on {app}?"],
    "go_live": ["When was {app} launched?", "Since when has {app} been live?", "When did {app} go into production?"],
    "criticality": ["How critical is {app}?", "What tier is {app}?", "Which criticality rating does {app} have?"],
    "architect": ["Who is the architect of {app}?", "Who designed {app}?", "Who can answer design questions on {app}?"],
    "ops_team": ["Which team operates {app}?", "Who runs {app} day to day?", "Who does the patching of {app}?"],
    "licences": ["How many licences does {app} have?", "How many seats were bought for {app}?"],
    "end_of_support": ["When does support for {app} end?", "Until when is {app} supported?"],
    "predecessor": ["What did {app} replace?", "What was the system before {app} called?"],
    "dependency": ["Where does {app} get its {purpose} from?", "Which system does {app} depend on for {purpose}?"],
}


@dataclass
class App:
    name: str
    system_id: str
    family: str
    facts: dict[str, str]
    abbreviation: str  # its initials ("ABH")
    description: str  # what it does, as the export says it
    asked_as: str | None = None  # what a person calls it ("the invoicing tool for ..."); None where ambiguous
    abbreviated: bool = True  # whether a person may use the abbreviation: False where two apps share it
    old_name: str | None = None
    missing: list[str] = field(default_factory=list)
    context: str = ""


def _one_digit_apart(rng: random.Random, system_id: str, taken: set[str]) -> str:
    """Another free 5+ digit id that differs from `system_id` in one digit (never the first)."""
    while True:
        i = rng.randrange(1, len(system_id))
        candidate = system_id[:i] + rng.choice([d for d in "0123456789" if d != system_id[i]]) + system_id[i + 1 :]
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def _value(rng: random.Random, attribute: str, slug: str = "") -> str:
    """A random value of one of an application's own attributes (`slug`: its name, for a support address)."""
    if attribute == "contact":
        address = f"{slug}-support@example.com" if slug else "it-service-desk@example.com"
        return rng.choice([address, rng.choice(_PEOPLE), f"the {rng.choice(_TEAMS)} on-call rota"])
    return {
        "product_owner": lambda: rng.choice(_PEOPLE),
        "hosting": lambda: rng.choice(_HOSTING),
        "database": lambda: rng.choice(_DATABASES),
        "version": lambda: f"{rng.randint(1, 12)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
        "users": lambda: f"{rng.randint(1, 40) * 250:,}",
        "rto": lambda: f"{rng.choice([1, 2, 4, 8, 12, 24, 48])} hours",
        "rpo": lambda: f"{rng.choice([5, 15, 30, 60])} minutes",
        "cost": lambda: f"EUR {rng.randint(2, 90) * 5000:,}",
        "go_live": lambda: _date(rng),
        "criticality": lambda: rng.choice(_CRITICALITY),
        "architect": lambda: rng.choice(_PEOPLE),
        "ops_team": lambda: rng.choice([*_TEAMS, *_VENDORS]),
        "licences": lambda: f"{rng.randint(1, 40) * 250:,}",
        "end_of_support": lambda: f"{rng.randint(1, 28)} {rng.choice(_MONTHS)} {rng.randint(2026, 2032)}",
    }[attribute]()


def _distinct(rng: random.Random, attribute: str, facts: dict[str, str], slug: str = "") -> str:
    """A value of `attribute` that neither contains nor is inside any value of `facts` (the seed format finds
    an answer by its text, so the architect must not be the product owner, nor 1,250 users inside 11,250)."""
    for _ in range(50):
        value = _value(rng, attribute, slug)
        if not any(_overlap(value.lower(), other.lower()) for other in facts.values() if other):
            return value
    raise ValueError(f"no value of {attribute} apart from {facts}")


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(_MONTHS)} {rng.randint(2004, 2025)}"


def _make_apps(rng: random.Random, count: int) -> tuple[list[App], list[str]]:
    """`count` applications in families of 1-4, and the names of retired applications (their old names)."""
    stems = [(p, f) for p in _PREFIXES for f in _FUNCTIONS]
    rng.shuffle(stems)
    apps: list[App] = []
    taken: set[str] = set()
    abbreviations: dict[str, int] = {}
    descriptions: dict[str, int] = {}
    round_ = 0
    while len(apps) < count:
        prefix, function = stems.pop() if stems else (rng.choice(_PREFIXES), rng.choice(list(_FUNCTIONS)))
        if not stems and len(apps) < count:  # more applications than stems: numbered generations
            round_ += 1
        size = min(count - len(apps), rng.choice([1, 2, 2, 3, 3, 4]))
        shared = {"team": rng.choice(_TEAMS), "unit": rng.choice(_UNITS), "hosting": rng.choice(_HOSTING)}
        first_id = str(rng.randint(10000, 99999) if count < 40000 else rng.randint(1_000_000, 9_999_999))
        while first_id in taken:
            first_id = str(int(first_id) + 1)
        taken.add(first_id)
        for k, suffix in enumerate(rng.sample(_SUFFIXES, size)):
            name = f"{prefix} {function} {suffix}" + (f" {round_ + 1}" if round_ else "")
            system_id = first_id if k == 0 else _one_digit_apart(rng, first_id, taken)
            facts = dict(shared) if rng.random() < 0.8 else {**shared, "hosting": rng.choice(_HOSTING)}
            slug = name.lower().replace(" ", "-")
            facts |= {"name": name, "system_id": system_id, "go_live": _date(rng)}
            for attribute in ("product_owner", "contact", "database", "version", "users", "rto", "rpo", "cost"):
                facts[attribute] = _distinct(rng, attribute, facts, slug)
            for attribute in ("criticality", "architect", "ops_team", "licences", "end_of_support"):
                facts[attribute] = _distinct(rng, attribute, facts, slug)
            abbreviation = "".join(word[0] for word in name.split()[:3])
            audience = rng.choice(_AUDIENCES)
            description = f"{_FUNCTIONS[function][0]} for {audience}"
            abbreviations[abbreviation] = abbreviations.get(abbreviation, 0) + 1
            descriptions[description] = descriptions.get(description, 0) + 1
            asked_as = f"{_FUNCTIONS[function][1]} for {audience}"
            apps.append(App(name, system_id, f"{prefix} {function}", facts, abbreviation, description, asked_as))
    for app in apps:  # a name a person may use only when it names one application
        app.abbreviated = abbreviations[app.abbreviation] == 1
        app.asked_as = app.asked_as if descriptions[app.description] == 1 else None
    live = {app.name for app in apps}
    retired = [f"{p} {f} {s}" for p in _PREFIXES for f in _FUNCTIONS for s in ("Classic", "Legacy", "Online", "Pro")]
    retired = [name for name in rng.sample(retired, min(len(retired), count)) if name not in live]
    return apps, retired


def _another(rng: random.Random, apps: list[App], *excluded: App) -> App:
    """A random application of `apps` that is none of `excluded`, if there is one."""
    for _ in range(20):
        app = rng.choice(apps)
        if all(app is not e for e in excluded):
            return app
    return next((a for a in apps if all(a is not e for e in excluded)), apps[0])


def _overlap(a: str, b: str) -> bool:
    """Whether one text contains the other ("2 hours" is found in "12 hours")."""
    return a in b or b in a


def _mention(rng: random.Random, other: App, app: App, *leads: str) -> str:
    """A sentence about `other` in the export of `app`, with two of its facts: where it can, one of the
    attributes `app`'s own export leaves out, so an unanswerable question has a plausible wrong answer nearby,
    and one it states, so an answerable one has a competing value.
    Never a value of `app`'s own (the seed format locates an answer by its text) nor one `other`'s own
    export leaves out (its unanswerable questions stay unanswerable from every context).

    >>> rng = random.Random(0)
    >>> a = App("A Billing Hub", "12345", "A Billing", {"team": "Risk Systems", "cost": "EUR 10,000"}, "ABH", "")
    >>> b = App("A Billing Portal", "12375", "A Billing", {"team": "Risk Systems", "cost": "EUR 20,000"}, "ABP", "")
    >>> a.missing = ["cost"]
    >>> _mention(rng, b, a, "Compare {other}")
    'Compare A Billing Portal (system id 12375), which costs EUR 20,000 a year.'
    """
    own = {value.lower() for value in app.facts.values() if value}
    usable = [
        a
        for a in _CLAUSES
        if a in other.facts and a not in other.missing and not any(_overlap(other.facts[a].lower(), v) for v in own)
    ]
    preferred = [a for a in usable if a in app.missing]
    chosen = rng.sample(preferred, k=1) if preferred and rng.random() < 0.7 else []
    competing = [a for a in usable if a not in app.missing and a not in chosen]  # a value beside `app`'s own
    chosen += rng.sample(competing, k=1) if competing and rng.random() < 0.7 else []
    rest = [a for a in usable if a not in chosen]
    chosen += rng.sample(rest, k=min(len(rest), 2 - len(chosen)))
    clauses = [_CLAUSES[a].format(**other.facts) for a in chosen]
    lead = rng.choice(leads).format(other=f"{other.name} (system id {other.system_id})")
    return f"{lead}, {' and '.join(clauses)}." if clauses else f"{lead}."


def _former(rng: random.Random, app: App, attribute: str) -> str:
    """A sentence with the value `attribute` had before `app`'s current one, and the year it changed.

    >>> app = App("A Billing Hub", "12345", "A Billing", {"version": "2.1.0", "go_live": "3 May 2019"}, "ABH", "")
    >>> _former(random.Random(1), app, "version")
    'The previous release was 3.9.2.'
    """
    old = _distinct(rng, attribute, app.facts)
    year = rng.randint(int(app.facts["go_live"][-4:]), 2025)
    return rng.choice(_FORMER[attribute]).format(old=old, year=year)


def _context(rng: random.Random, app: App, family: list[App], referable: list[App], retired: list[str]) -> None:
    """The export of one application: four paragraphs that mention a dependency, a sibling from its family
    (or another application) and a predecessor, each with facts of the same kinds as its own."""
    facts = app.facts
    siblings = [a for a in family if a is not app]
    sibling = rng.choice(siblings) if siblings else _another(rng, referable, app)
    dependency = _another(rng, referable, app, sibling)
    purpose, verb = rng.choice(_PURPOSES)
    if rng.random() < 0.5 and retired:
        app.old_name = retired.pop()
    facts["predecessor"] = app.old_name or ""
    facts["dependency"] = dependency.name
    facts["purpose"] = purpose

    def say(attribute: str) -> str:
        if attribute in app.missing:
            return ""
        forms = _SENTENCES[attribute]  # the first most often, the last rarely: a real export has a house style
        sentence = rng.choices(forms, weights=[1 / (i + 1) for i in range(len(forms))])[0].format(**facts)
        if attribute in _FORMER and rng.random() < _FORMER_SHARE:
            sentence += " " + _former(rng, app, attribute)
        return sentence

    opening = rng.choice(
        [
            "{name} ({abbreviation}, system id {system_id}) {description}.",
            "{name}, known internally as {abbreviation}, is registered under system id {system_id} and {description}.",
            "The application inventory lists {name} (system id {system_id}, {abbreviation}); it {description}.",
        ]
    )
    identity = [opening.format(**facts, abbreviation=app.abbreviation, description=app.description), say("unit")]
    if app.old_name:
        identity.append(
            rng.choice(
                [
                    f"It replaced {app.old_name} in {rng.randint(2004, 2025)}, which ran on {rng.choice(_DATABASES)}.",
                    f"It was formerly known as {app.old_name}.",
                ]
            )
        )
    ownership = [say(a) for a in ("team", "product_owner", "contact", "architect", "ops_team")]
    ownership.append(
        _mention(rng, sibling, app, "The same team also builds {other}", "Not to be confused with {other}")
    )
    if len(siblings) > 1:  # a big family: the reader must tell three names apart
        second = rng.choice([a for a in siblings if a is not sibling])
        operations_mention = _mention(rng, second, app, "Its sister application is {other}", "Compare {other}")
    else:
        operations_mention = ""
    uses = _mention(rng, dependency, app, f"{app.name} {verb} {{other}}") if rng.random() < 0.5 else ""
    technology = [say("hosting"), say("database"), say("version"), uses or f"{app.name} {verb} {dependency.name}."]
    operations = [say(a) for a in ("users", "licences", "rto", "cost", "go_live", "end_of_support", "criticality")]
    operations.append(operations_mention)
    for paragraph in (ownership, technology, operations):
        rng.shuffle(paragraph)
    for filler in rng.sample(_FILLERS, k=rng.choice([0, 0, 1])):
        operations.insert(rng.randint(0, len(operations)), filler.format(**facts))
    history = []
    if rng.random() < 0.15:  # a long export: more than one reader window, and older values of its own facts
        moved, upgraded = sorted(rng.sample(range(2005, 2026), 2))
        history = [
            f"History: in {moved} {app.name} moved from {rng.choice(_HOSTING)} to {facts['hosting']}.",
            f"The {upgraded} upgrade to release {rng.randint(1, 12)}.{rng.randint(0, 9)} replaced"
            f" {rng.choice(_DATABASES)}, and the number of users grew from {rng.randint(1, 20) * 100:,}.",
            f"Before that, {sibling.name} handled part of its work.",
        ]
    paragraphs = [" ".join(s for s in p if s) for p in (identity, ownership, technology, operations, history)]
    app.context = "\n\n".join(p for p in paragraphs if p)


def _references(rng: random.Random, app: App, attribute: str) -> str:
    """How a person names the application: mostly by name, else by abbreviation, system id, old name or
    what it does."""
    ways = ["name"] * 4 + ["id"]
    ways += ["abbreviation"] * (app.abbreviated and attribute != "system_id")
    ways += ["old"] * (app.old_name is not None and attribute != "predecessor")
    ways += ["description"] * 3 * (app.asked_as is not None)
    way = rng.choice([w for w in ways if not (w == "id" and attribute == "system_id")])
    if way == "id":
        return rng.choice(["system {id}", "the app with system id {id}", "app {id}"]).format(id=app.system_id)
    if way == "abbreviation":
        return app.abbreviation
    if way == "old":
        return rng.choice(["what used to be {old}", "the application formerly called {old}"]).format(old=app.old_name)
    if way == "description":
        return app.asked_as
    return app.name


def _name_questions(app: App) -> list[str]:
    questions = [
        f"Which application has system id {app.system_id}?",
        f"What is the name of the application with system id {app.system_id}?",
    ]
    if app.old_name:
        questions.append(f"What is {app.old_name} called now?")
    if app.asked_as:
        questions.append(f"What's the name of {app.asked_as}?")
    if app.abbreviated:
        questions.append(f"What does {app.abbreviation} stand for?")
    return questions


def _questions(rng: random.Random, app: App, per_app: int) -> list[dict]:
    """Questions about one app: answerable ones whose answer is in the context, and some it cannot answer."""
    attributes = [a for a in _QUESTIONS if a != "predecessor" or app.old_name]
    rows = []
    for attribute in rng.sample(attributes, k=min(per_app, len(attributes))):
        answer = None if attribute in app.missing else app.facts[attribute]
        if attribute == "name":
            phrasings = rng.sample(_name_questions(app), k=1)
        else:
            templates = rng.sample(_QUESTIONS[attribute], k=rng.choice([1, 1, 2]))
            phrasings = [
                t.format(app=_references(rng, app, attribute), purpose=app.facts["purpose"]) for t in templates
            ]
        for question in phrasings:
            rows.append({"query": question[0].upper() + question[1:], "context": app.context, "answer": answer})
    return rows


def _typo(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 5]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w, k = words[i], rng.randrange(1, len(words[i]) - 1)
    words[i] = rng.choice([w[:k] + w[k + 1 :], w[:k] + w[k] + w[k:], w[:k] + w[k + 1] + w[k] + w[k + 2 :]])
    return " ".join(words)


def _casing(rng: random.Random, text: str) -> str:
    return rng.choice([text.lower(), text.upper(), text.title()])


def _spacing(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    i = rng.randrange(len(words))
    words[i] = words[i] + rng.choice(["  ", "\t", "\u00a0", " \u200b"])
    return rng.choice(["", " ", "\n"]) + " ".join(words) + rng.choice(["", " ", "  "])


def _unicode_lookalikes(text: str) -> str:
    """What a word processor does to an export: a ligature, an ellipsis, a full-width colon, a no-break
    hyphen. Only filler words are touched, so the answers (which the export stores separately) still match."""
    return (
        text.replace("configuration", "con\ufb01guration")
        .replace("Q3.", "Q3\u2026")
        .replace("02:00", "02\uff1a00")
        .replace("release train", "release\u2011train")
    )


def _malformed(rng: random.Random, row: dict) -> str:
    kind = rng.randrange(4)
    if kind == 0:  # truncated export line
        return json.dumps(row, ensure_ascii=False)[: rng.randint(20, 60)]
    if kind == 1:  # a column went missing
        return json.dumps({"query": row["query"], "answer": row["answer"]}, ensure_ascii=False)
    if kind == 2:  # a spreadsheet turned the id into a number
        return json.dumps({"query": 12345, "context": row["context"], "answer": row["answer"]}, ensure_ascii=False)
    return f"{row['query']};{row['answer']}"  # a CSV line pasted into the JSONL file


def generate(
    seed: int = 13, apps: int = 300, per_app: int = 4, benchmark_apps: int = 40, leaked_apps: int = 12
) -> tuple[list[str], list[str], dict]:
    """The raw lines, the benchmark lines and a manifest of what was planted where (for the tests)."""
    rng = random.Random(seed)
    inventory, retired = _make_apps(rng, apps + benchmark_apps)
    train_apps, held_out = inventory[:apps], inventory[apps:]  # whole families but the one cut at `apps`
    held_out = [app for app in held_out if app.family not in {a.family for a in train_apps}] or held_out
    leaked = rng.sample(train_apps, k=leaked_apps)
    unmentioned = {id(app) for app in leaked}  # no context mentions a leaked app: decontamination removes it
    for pool in (train_apps, held_out):
        referable = [app for app in pool if id(app) not in unmentioned] or pool
        families: dict[str, list[App]] = {}
        for app in referable:
            families.setdefault(app.family, []).append(app)
        for app in pool:  # first what every export leaves out: a context must not state it of another app
            app.missing = rng.sample(_OPTIONAL, k=rng.choice([3, 4, 5, 6, 7]))
        for app in pool:
            _context(rng, app, families.get(app.family, []), referable, retired)
    for app in rng.sample(train_apps, k=max(1, apps // 8)):  # some exports carry typographic Unicode
        app.context = _unicode_lookalikes(app.context)
    rows = [row for app in train_apps for row in _questions(rng, app, per_app)]
    rng.shuffle(rows)

    manifest = {
        "clean_rows": len(rows),
        "typos": 0,
        "casing": 0,
        "spacing": 0,
        "missing_answer": 0,
        "exact_duplicates": 0,
        "near_duplicates": 0,
        "malformed": 0,
    }
    lines: list[str] = []
    for row in rows:
        roll = rng.random()
        if roll < 0.08:
            row = row | {"query": _typo(rng, row["query"])}
            manifest["typos"] += 1
        elif roll < 0.13:
            row = row | {"query": _casing(rng, row["query"])}
            manifest["casing"] += 1
        elif roll < 0.18:
            row = row | {"query": _spacing(rng, row["query"]), "context": _spacing(rng, row["context"])}
            manifest["spacing"] += 1
        elif roll < 0.19 and row["answer"]:  # the answer was edited after the context was exported
            row = row | {"answer": row["answer"] + " (legacy)"}
            manifest["missing_answer"] += 1
        elif roll < 0.195:
            lines.append(_malformed(rng, row))
            manifest["malformed"] += 1
            continue
        lines.append(json.dumps(row, ensure_ascii=False))
        if rng.random() < 0.03:
            lines.append(json.dumps(row, ensure_ascii=False))  # exported twice
            manifest["exact_duplicates"] += 1
        elif rng.random() < 0.03:  # re-entered by hand: same question, a stray edit
            lines.append(json.dumps(row | {"query": _typo(rng, row["query"])}, ensure_ascii=False))
            manifest["near_duplicates"] += 1

    benchmark = [row for app in held_out for row in _questions(rng, app, 3)]
    for i, app in enumerate(leaked):  # contamination: the benchmark reuses raw questions and contexts
        row = _questions(rng, app, 1)[0]
        if i % 2:
            row["context"] = row["context"].replace(" is ", " is currently ", 1)  # a light edit
        benchmark.append(row)
    rng.shuffle(benchmark)
    manifest["leaked_apps"] = sorted(app.name for app in leaked)
    return lines, [json.dumps(row, ensure_ascii=False) for row in benchmark], manifest


def write(lines: list[str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, default=RAW_FILE)
    parser.add_argument("--benchmark", type=Path, default=BENCHMARK_FILE)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--apps", type=int, default=300)
    args = parser.parse_args()
    lines, benchmark, manifest = generate(seed=args.seed, apps=args.apps)
    write(lines, args.raw)
    write(benchmark, args.benchmark)
    print(
        f"{args.raw}: {len(lines)} lines; {args.benchmark}: {len(benchmark)} lines; planted: "
        + ", ".join(f"{k}={v}" for k, v in manifest.items() if k != "leaked_apps")
    )


if __name__ == "__main__":
    main()

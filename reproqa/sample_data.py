"""Deterministic generator of the built-in sample: an enterprise application inventory in the seed format.

    python -m reproqa.sample_data            # rewrites data/raw/app_inventory.jsonl and data/benchmark/...

One JSON object per line: {"query", "context", "answer"}; answer null when the context does not say.
Each application has one context (a paragraph from an inventory export) and several questions about its
facts, phrased several ways. The noise a real export has is added on purpose and in known amounts:
typos, random casing, extra and odd whitespace, Unicode look-alikes, exact duplicates, near-duplicates,
answers missing from their context, and malformed lines. The benchmark holds held-out applications plus
some questions/contexts copied (verbatim or lightly edited) from the raw data, for decontamination to catch.
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
_FUNCTIONS = (
    "Billing Payroll Claims Ledger Onboarding Inventory Procurement Treasury Compliance Analytics "
    "Scheduling Logistics Pricing Underwriting Ticketing Recruiting Forecasting Settlement Reconciliation "
    "Catalog Loyalty Expense Audit Identity Messaging Reporting Contracts Fulfilment"
).split()
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

# One sentence template list per attribute; {name} and the attribute's own slot vary in every sentence,
# so no long run of template words is shared by all contexts (keeps 13-gram decontamination meaningful).
_SENTENCES = {
    "system_id": [
        "{name} is registered in the inventory under system id {system_id}.",
        "{name} (system id {system_id}) is listed in the application inventory.",
        "The application inventory lists {name} with system ID {system_id}.",
    ],
    "team": [
        "It is owned by the {team} team.",
        "Ownership sits with {team}.",
        "The {team} team owns {name} and approves its changes.",
    ],
    "unit": [
        "{name} serves the {unit} business unit.",
        "Its business owner is {unit}.",
        "The application belongs to {unit}.",
    ],
    "hosting": ["{name} runs in {hosting}.", "It is hosted in {hosting}.", "Production is deployed to {hosting}."],
    "criticality": [
        "Its criticality is {criticality}.",
        "{name} is classified {criticality}.",
        "Risk has rated it {criticality}.",
    ],
    "contact": [
        "Support requests go to {contact}.",
        "The support contact is {contact}.",
        "For incidents, contact {contact}.",
    ],
    "database": [
        "Its data lives in {database}.",
        "{name} stores its records in {database}.",
        "The backing database is {database}.",
    ],
    "go_live": ["It went live in {go_live}.", "{name} has been in production since {go_live}."],
}
_FILLERS = [
    "Changes to {name} follow the weekly release train.",
    "Access to {name} is granted in the portal.",
    "{name} has a documented recovery plan.",
    "Batch jobs of {name} run nightly at 02:00 CET.",
    "The configuration of {name} is kept in the central repository.",
    "{name} users sign in with SSO.",
    "The next architecture review of {name} is planned for Q3.",
    "{name} sends files to reporting.",
]
_QUESTIONS = {
    "name": [
        "What is the name of the application with system id {system_id}?",
        "Which application has system id {system_id}?",
        "Name of the app with system ID {system_id}?",
        "What app is registered under system id {system_id}?",
    ],
    "system_id": ["What is the system id of {name}?", "Which system id does {name} have?", "{name} system id?"],
    "team": ["Which team owns {name}?", "Who is the owning team of {name}?", "What team is responsible for {name}?"],
    "unit": [
        "Which business unit does {name} belong to?",
        "What business unit uses {name}?",
        "{name} belongs to which business unit?",
    ],
    "hosting": ["Where is {name} hosted?", "Where does {name} run?", "What is the hosting location of {name}?"],
    "criticality": [
        "How critical is {name}?",
        "What is the criticality of {name}?",
        "Which criticality rating does {name} have?",
    ],
    "contact": [
        "Who is the support contact for {name}?",
        "Whom should I contact about {name} incidents?",
        "What is the support contact of {name}?",
    ],
    "database": [
        "Which database does {name} use?",
        "What database is behind {name}?",
        "Where does {name} store its data?",
    ],
    "go_live": ["When did {name} go live?", "Since what year has {name} been in production?"],
}
_OPTIONAL = ["database", "go_live", "contact", "criticality"]  # attributes a context may leave out


@dataclass
class App:
    name: str
    system_id: str
    facts: dict[str, str]
    context: str
    missing: list[str] = field(default_factory=list)


def _make_app(rng: random.Random, name: str, system_id: str) -> App:
    slug = name.lower().replace(" ", "-")
    contact = rng.choice([f"{slug}-support@example.com", rng.choice(_PEOPLE), f"the {rng.choice(_TEAMS)} on-call rota"])
    facts = {
        "name": name,
        "system_id": system_id,
        "team": rng.choice(_TEAMS),
        "unit": rng.choice(_UNITS),
        "hosting": rng.choice(_HOSTING),
        "criticality": rng.choice(_CRITICALITY),
        "contact": contact,
        "database": rng.choice(_DATABASES),
        "go_live": str(rng.randint(2004, 2025)),
    }
    missing = rng.sample(_OPTIONAL, k=rng.choice([0, 1, 1, 2, 2]))
    attributes = [a for a in _SENTENCES if a not in missing and a != "system_id"]
    rng.shuffle(attributes)
    sentences = [rng.choice(_SENTENCES["system_id"])] + [rng.choice(_SENTENCES[a]) for a in attributes]
    for filler in rng.sample(_FILLERS, k=rng.randint(1, 3)):
        sentences.insert(rng.randint(1, len(sentences)), filler)
    context = " ".join(s.format(**facts) for s in sentences)
    return App(name, system_id, facts, context, missing)


def _make_apps(rng: random.Random, count: int) -> list[App]:
    names = [f"{p} {f} {s}" for p in _PREFIXES for f in _FUNCTIONS for s in _SUFFIXES]
    if count > len(names):
        names += [f"{n} {i}" for i in range(2, count // len(names) + 2) for n in names]
    chosen = rng.sample(names, count)
    ids = rng.sample(range(10000, 100000 if count < 80000 else 10_000_000), count)
    return [_make_app(rng, name, str(system_id)) for name, system_id in zip(chosen, ids)]


def _questions(rng: random.Random, app: App, per_app: int) -> list[dict]:
    """Questions about one app: answerable ones whose answer is in the context, and some it cannot answer."""
    rows = []
    for attribute in rng.sample(list(_QUESTIONS), k=min(per_app, len(_QUESTIONS))):
        for phrasing in rng.sample(_QUESTIONS[attribute], k=rng.choice([1, 1, 2])):
            answer = None if attribute in app.missing else app.facts[attribute]
            rows.append({"query": phrasing.format(**app.facts), "context": app.context, "answer": answer})
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
    seed: int = 13, apps: int = 320, per_app: int = 5, benchmark_apps: int = 40, leaked_apps: int = 12
) -> tuple[list[str], list[str], dict]:
    """The raw lines, the benchmark lines and a manifest of what was planted where (for the tests)."""
    rng = random.Random(seed)
    inventory = _make_apps(rng, apps + benchmark_apps)
    train_apps, held_out = inventory[:apps], inventory[apps:]
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
    leaked = rng.sample(train_apps, k=leaked_apps)
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
    parser.add_argument("--apps", type=int, default=320)
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

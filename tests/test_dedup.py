import random

from reproqa.dedup import PAIRWISE_LIMIT, ContaminationIndex, UnionFind, assign_splits, similar_pairs
from reproqa.text import char_ngrams, matching_form, word_ngrams


def words(rng: random.Random, count: int) -> list[str]:
    return [f"w{rng.randrange(5000)}" for _ in range(count)]


def corpus(size: int) -> tuple[list[str], set[tuple[int, int]]]:
    """Random 60-word texts; every 10th is a copy of the one before with one word changed (Jaccard 0.84)."""
    rng = random.Random(0)
    texts, planted = [], set()
    for i in range(size):
        if i % 10 == 9:
            edited = texts[-1].split()
            edited[30] = "edited"
            texts.append(" ".join(edited))
            planted.add((i - 1, i))
        else:
            texts.append(" ".join(words(rng, 60)))
    return texts, planted


def test_lsh_finds_the_planted_near_duplicates_and_nothing_else():
    texts, planted = corpus(2000)
    assert len(texts) > PAIRWISE_LIMIT  # the MinHash-LSH path
    found = set(
        similar_pairs(
            texts, lambda t: word_ngrams(matching_form(t), 5), threshold=0.8, num_perm=128, bands=16, bucket_window=32
        )
    )
    assert found <= planted  # candidates are verified exactly: no false pairs
    assert len(found) >= 0.95 * len(planted)  # 16 bands x 8 rows: P(found | J=0.84) = 0.987


def test_small_inputs_compare_all_pairs_exactly():
    texts, planted = corpus(30)
    found = similar_pairs(
        texts, lambda t: word_ngrams(matching_form(t), 5), threshold=0.8, num_perm=128, bands=16, bucket_window=32
    )
    assert set(found) == planted


def test_a_crowded_bucket_compares_each_member_with_bucket_window_members_before_it():
    texts = ["the same templated sentence about an application"] * (PAIRWISE_LIMIT + 12)  # one bucket in every band
    for window in (1, 3):
        found = similar_pairs(
            texts, lambda t: word_ngrams(t, 5), threshold=0.8, num_perm=128, bands=16, bucket_window=window
        )
        assert found == sorted((i, j) for j in range(len(texts)) for i in range(max(0, j - window), j))


def test_union_find_keeps_the_earliest_member_as_root():
    groups = UnionFind(5)
    groups.union(3, 4)
    groups.union(4, 1)
    assert {groups.find(i) for i in (1, 3, 4)} == {1} and groups.find(2) == 2


FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def shares(split_of_group: dict[int, str], group_rows: dict[int, int]) -> dict[str, float]:
    total = sum(group_rows.values())
    return {name: sum(group_rows[g] for g, s in split_of_group.items() if s == name) / total for name in FRACTIONS}


def test_split_assignment_is_seeded_and_near_the_fractions():
    rng = random.Random(0)
    group_rows = {group: rng.randint(1, 20) for group in range(5000)}
    first = assign_splits(group_rows, seed=42, fractions=FRACTIONS)
    assert first == assign_splits(group_rows, seed=42, fractions=FRACTIONS)
    assert first != assign_splits(group_rows, seed=7, fractions=FRACTIONS)
    assert all(abs(shares(first, group_rows)[name] - target) < 0.005 for name, target in FRACTIONS.items())


def test_few_large_groups_still_fill_every_split():
    """16 SQuAD-like articles of 100-700 questions: hashing groups one by one left validation empty."""
    rng = random.Random(1)
    group_rows = {group: rng.randint(100, 700) for group in range(16)}
    for seed in range(20):
        observed = shares(assign_splits(group_rows, seed, FRACTIONS), group_rows)
        assert observed["validation"] > 0.03 and observed["test"] > 0.03 and observed["train"] > 0.7


def test_contamination_ignores_templates_and_catches_copies():
    index = ContaminationIndex(n=8, max_frequency=3, min_overlap=0.6)
    index.add(matching_form("What is the name of the application with system id 55555?"), "bench:1")
    template = [f"What is the name of the application with system id {10000 + i}?" for i in range(10)]
    copied = "what is the name of the application with system ID 55555"
    edited = "Tell me: what was the name of the application with system id 55555?"
    leaks = index.leaks(map(matching_form, template + [copied, edited]))
    assert leaks == {10: "bench:1", 11: "bench:1"}  # shared template 8-grams alone leak nothing


def test_a_coincidental_shared_ngram_is_not_a_leak():
    index = ContaminationIndex(n=3, max_frequency=10, min_overlap=0.6)
    index.add("atlas billing hub runs in the dublin data centre and is owned by payments", "bench:1")
    assert index.leaks(["cobalt claims portal also runs in the dublin data centre today"]) == {}
    assert index.leaks(["atlas billing hub now runs in the dublin data centre and is owned by payments"]) == {
        0: "bench:1"
    }  # already matching forms


def test_short_questions_match_only_whole():
    index = ContaminationIndex(n=8, max_frequency=10, min_overlap=0.6)
    index.add(matching_form("Who owns Atlas Billing Hub?"), "bench:1")
    assert index.leaks(map(matching_form, ["who owns atlas billing hub", "Who owns Atlas Billing Portal?"])) == {
        0: "bench:1"
    }
    assert char_ngrams("ab", 3) == {"ab"} and word_ngrams("", 8) == set()

import random

from reproqa.dedup import PAIRWISE_LIMIT, ContaminationIndex, UnionFind, similar_pairs, split_of
from reproqa.text import char_ngrams, word_ngrams


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
    found = set(similar_pairs(texts, lambda t: word_ngrams(t, 5), threshold=0.8, num_perm=128, bands=16))
    assert found <= planted  # candidates are verified exactly: no false pairs
    assert len(found) >= 0.95 * len(planted)  # 16 bands x 8 rows: P(found | J=0.84) = 0.987


def test_small_inputs_compare_all_pairs_exactly():
    texts, planted = corpus(30)
    found = similar_pairs(texts, lambda t: word_ngrams(t, 5), threshold=0.8, num_perm=128, bands=16)
    assert set(found) == planted


def test_union_find_keeps_the_earliest_member_as_root():
    groups = UnionFind(5)
    groups.union(3, 4)
    groups.union(4, 1)
    assert {groups.find(i) for i in (1, 3, 4)} == {1} and groups.find(2) == 2


def test_split_assignment_is_seeded_stable_and_near_the_fractions():
    keys = range(20_000)
    first = [split_of(k, seed=42, train=0.8, validation=0.1) for k in keys]
    assert first == [split_of(k, seed=42, train=0.8, validation=0.1) for k in keys]
    assert first != [split_of(k, seed=7, train=0.8, validation=0.1) for k in keys]
    assert abs(first.count("train") / len(first) - 0.8) < 0.01
    assert abs(first.count("test") / len(first) - 0.1) < 0.01


def test_contamination_ignores_templates_and_catches_copies():
    index = ContaminationIndex(n=8, max_frequency=3, min_overlap=0.6)
    index.add("What is the name of the application with system id 55555?", "bench:1")
    template = [f"What is the name of the application with system id {10000 + i}?" for i in range(10)]
    copied = "what is the name of the application with system ID 55555"
    edited = "Tell me: what was the name of the application with system id 55555?"
    leaks = index.leaks(template + [copied, edited])
    assert leaks == {10: "bench:1", 11: "bench:1"}  # shared template 8-grams alone leak nothing


def test_a_coincidental_shared_ngram_is_not_a_leak():
    index = ContaminationIndex(n=3, max_frequency=10, min_overlap=0.6)
    index.add("atlas billing hub runs in the dublin data centre and is owned by payments", "bench:1")
    assert index.leaks(["cobalt claims portal also runs in the dublin data centre today"]) == {}
    assert index.leaks(["atlas billing hub now runs in the dublin data centre and is owned by payments"]) == {
        0: "bench:1"}


def test_short_questions_match_only_whole():
    index = ContaminationIndex(n=8, max_frequency=10, min_overlap=0.6)
    index.add("Who owns Atlas Billing Hub?", "bench:1")
    assert index.leaks(["who owns atlas billing hub", "Who owns Atlas Billing Portal?"]) == {0: "bench:1"}
    assert char_ngrams("ab", 3) == {"ab"} and word_ngrams("", 8) == set()

"""Duplicates, near-duplicates, decontamination and group-aware split assignment.

Near-duplicates: MinHash signatures (rensa) cut into `bands` bands of num_perm/bands rows; texts sharing a
band are candidates, and a candidate pair counts only if the exact Jaccard of its n-gram sets reaches the
threshold (the 128-permutation estimate is noisy near it). Bands and rows are chosen explicitly: the
default 16 x 8 finds ~99% of pairs at Jaccard >= 0.8 (see the field notes), datasketch's automatic choice
for threshold 0.8 finds ~67%.
"""

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

import numpy as np
import rensa
import xxhash

from reproqa.text import jaccard, word_ngrams

# Below this many texts every pair is compared exactly, which is cheaper than hashing them and finds every
# pair; above, MinHash-LSH finds ~99% of the pairs at the threshold (params: bands x rows). Not a param: it
# only decides where the exact method stops paying, and both methods agree but for LSH's rare misses.
PAIRWISE_LIMIT = 48
SIGNATURE_CHUNK = 20_000
MINHASH_SEED = 1  # fixed: signatures must not change when a user changes the split seed


class UnionFind:
    def __init__(self, size: int):
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:  # the smaller index stays the root, so the earliest row represents its set
            self.parent[max(root_a, root_b)] = min(root_a, root_b)


def similar_pairs(
    texts: Sequence[str],
    ngrams: Callable[[str], set[str]],
    threshold: float,
    num_perm: int,
    bands: int,
    bucket_window: int,
) -> list[tuple[int, int]]:
    """Index pairs (i < j) of `texts` whose n-gram sets have exact Jaccard >= threshold.

    A crowded LSH bucket (templated text) compares each member with the `bucket_window` members before it
    only: its candidates grow linearly with its size, not quadratically.
    Memory stays bounded by the signatures (num_perm x 4 bytes per text): n-gram sets are built a chunk
    at a time for hashing and rebuilt only for the texts in candidate pairs.
    """
    if len(texts) < 2:
        return []
    if len(texts) <= PAIRWISE_LIMIT:
        candidates: Iterable[tuple[int, int]] = ((i, j) for j in range(len(texts)) for i in range(j))
    else:
        candidates = sorted(_lsh_candidates(texts, ngrams, num_perm, bands, bucket_window))
    cached = lru_cache(maxsize=65536)(lambda index: frozenset(ngrams(texts[index])))
    return [(i, j) for i, j in candidates if jaccard(cached(i), cached(j)) >= threshold]


def _lsh_candidates(texts, ngrams, num_perm: int, bands: int, bucket_window: int) -> set[tuple[int, int]]:
    chunks, nonempty = [], []
    for start in range(0, len(texts), SIGNATURE_CHUNK):
        sets = [ngrams(text) for text in texts[start : start + SIGNATURE_CHUNK]]
        nonempty.extend(bool(s) for s in sets)
        matrix = rensa.RMinHash.digest_matrix_from_token_sets(sets, num_perm, MINHASH_SEED)
        chunks.append(np.array(matrix.to_rows(), dtype=np.uint64))
    signatures = np.concatenate(chunks)[np.array(nonempty)]  # an empty text is similar to nothing
    index = np.flatnonzero(nonempty)
    rows = num_perm // bands
    multipliers = np.random.default_rng(MINHASH_SEED).integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
    candidates: set[tuple[int, int]] = set()
    for band in range(bands):
        keys = (signatures[:, band * rows : (band + 1) * rows] * multipliers).sum(axis=1)  # wraps mod 2**64
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        for begin, end in zip(starts, np.r_[starts[1:], len(order)]):
            if end - begin < 2:
                continue
            members = index[order[begin:end]].tolist()  # ascending: argsort is stable
            for position in range(1, len(members)):
                for earlier in members[max(0, position - bucket_window) : position]:
                    candidates.add((earlier, members[position]))
    return candidates


def assign_splits(group_rows: dict[int, int], seed: int, fractions: dict[str, float]) -> dict[int, str]:
    """Whole groups to splits: a seeded shuffle of the groups, then each group goes to the split furthest
    below its target share of the rows assigned so far.

    Hashing each group on its own would be stable under added data, but with few large groups (SQuAD
    has 48 articles in its dev set) it can leave a split empty; this keeps every split near its fraction.
    """
    order = sorted(group_rows, key=lambda group: xxhash.xxh3_64_intdigest(f"{seed}:{group}".encode()))
    assigned = dict.fromkeys(fractions, 0)
    total = 0
    split_of_group = {}
    for group in order:
        total += group_rows[group]
        split = max(fractions, key=lambda name: fractions[name] * total - assigned[name])
        assigned[split] += group_rows[group]
        split_of_group[group] = split
    return split_of_group


class ContaminationIndex:
    """Word n-grams of benchmark rows, and which corpus texts leak them.

    A corpus text leaks benchmark row b when it contains at least `min_overlap` of b's informative
    n-grams. N-grams found in more than `max_frequency` corpus texts are not informative: they are
    templates ("what is the name of the application with") that leak nothing (NeMo Curator ignores them
    the same way). A single shared n-gram is not enough either: templated contexts share 13-grams by
    coincidence, while a copied or lightly edited benchmark text shares most of them.
    """

    def __init__(self, n: int, max_frequency: int, min_overlap: float):
        self.n, self.max_frequency, self.min_overlap = n, max_frequency, min_overlap
        self.ngrams_of: dict[str, set[str]] = {}  # benchmark row -> its n-grams
        self.rows_with: dict[str, list[str]] = {}  # n-gram -> benchmark rows that have it

    def add(self, form: str, benchmark_row: str) -> None:
        """Index a benchmark text, given as its matching form."""
        self.ngrams_of[benchmark_row] = word_ngrams(form, self.n)
        for ngram in self.ngrams_of[benchmark_row]:
            self.rows_with.setdefault(ngram, []).append(benchmark_row)

    def leaks(self, forms: Iterable[str]) -> dict[int, str]:
        """{index of a leaking text (given as its matching form): the benchmark row it leaks most of}."""
        hits: dict[int, set[str]] = {}
        frequency: Counter = Counter()  # in how many corpus texts each benchmark n-gram occurs
        for index, form in enumerate(forms):
            if found := {g for g in word_ngrams(form, self.n) if g in self.rows_with}:
                hits[index] = found
                frequency.update(found)
        informative = {
            row: {g for g in ngrams if frequency[g] <= self.max_frequency} for row, ngrams in self.ngrams_of.items()
        }
        leaked = {}
        for index, found in hits.items():
            rows = {row for g in found if frequency[g] <= self.max_frequency for row in self.rows_with[g]}
            overlap = {row: len(found & informative[row]) / len(informative[row]) for row in rows}
            best = max(sorted(overlap), key=overlap.get, default=None)
            if best is not None and overlap[best] >= self.min_overlap:
                leaked[index] = best
        return leaked

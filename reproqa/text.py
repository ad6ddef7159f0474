"""Text normalisation shared by the data stages.

Two ideas, two names:
- `clean` / `clean_with_spans`: what the clean stage writes (NFKC, no control characters, collapsed
  whitespace, optional lowercasing) while keeping answer offsets exact;
- `matching_form`: the stricter form used only to compare texts (duplicates, decontamination), never stored.
"""

import re
import sys
import unicodedata
from collections import Counter
from functools import cache
from importlib import resources

import xxhash

_SPACES = re.compile(" {2,}")
_WORD = re.compile(r"\w+")
_LETTERS_ONLY_WORD = re.compile(r"(?<![\w@.'’-])[^\W\d_]+(?![\w@'’-])")  # skips ids, emails, couldn't


@cache
def _control_table() -> dict[int, str | None]:
    """str.translate table: every whitespace character becomes ' ', control/format characters vanish."""
    table: dict[int, str | None] = {}
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if char.isspace():
            table[code] = " "
        elif unicodedata.category(char) in ("Cc", "Cf"):
            table[code] = None
    return table


def _normalise_piece(piece: str, lowercase: bool) -> str:
    if not piece.isascii():  # ASCII is already NFKC; skipping the call is most of the speed
        piece = unicodedata.normalize("NFKC", piece)
    piece = piece.translate(_control_table())
    if lowercase:
        piece = piece.lower()
    return _SPACES.sub(" ", piece)


def clean_with_spans(text: str, spans: list[tuple[int, int]], lowercase: bool) -> tuple[str, list[tuple[int, int]]]:
    """Clean `text` and map each (start, end) span onto the cleaned text.

    The text is cut at every span boundary and each piece is normalised on its own, so a boundary can
    never move into the middle of a changed character ('ﬁ' -> 'fi', 'İ'.lower() has two characters).
    Whitespace runs that straddle pieces are collapsed as the pieces are joined. A returned span is
    trimmed of surrounding spaces and may be empty if the span held only removable characters.
    """
    cuts = sorted({0, len(text), *(s for s, _ in spans), *(e for _, e in spans)})
    position = {}  # original boundary -> index in the cleaned text
    out: list[str] = []
    length = 0
    ends_with_space = True  # at the start, leading spaces are dropped like repeated ones
    for start, end in zip(cuts, cuts[1:]):
        position[start] = length
        piece = _normalise_piece(text[start:end], lowercase)
        if ends_with_space and piece.startswith(" "):
            piece = piece[1:]
        if piece:
            out.append(piece)
            length += len(piece)
            ends_with_space = piece.endswith(" ")
    position[cuts[-1]] = length
    cleaned = "".join(out)
    if cleaned.endswith(" "):
        cleaned = cleaned[:-1]
    mapped = []
    for span_start, span_end in spans:
        new_start, new_end = min(position[span_start], len(cleaned)), min(position[span_end], len(cleaned))
        while new_start < new_end and cleaned[new_start] == " ":
            new_start += 1
        while new_end > new_start and cleaned[new_end - 1] == " ":
            new_end -= 1
        mapped.append((new_start, new_end))
    return cleaned, mapped


def clean(text: str, lowercase: bool) -> str:
    return clean_with_spans(text, [], lowercase)[0]


def matching_form(text: str) -> str:
    """Case-, punctuation- and spacing-blind form of a text, for finding the same text written differently."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def word_ngrams(form: str, n: int) -> set[str]:
    """Word n-grams of a matching form; a form shorter than n words is a single n-gram."""
    words = form.split()
    if len(words) <= n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def char_ngrams(form: str, n: int) -> set[str]:
    """Character n-grams of a matching form; a form shorter than n characters is a single n-gram."""
    if len(form) <= n:
        return {form} if form else set()
    return {form[i : i + n] for i in range(len(form) - n + 1)}


def text_key(*parts: str) -> int:
    """A 64-bit key for exact matching of (already normalised) texts."""
    return xxhash.xxh3_64_intdigest("\x1f".join(parts).encode())


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@cache
def english_words() -> frozenset[str]:
    """The 82,765 words of SymSpell's English frequency dictionary (shipped inside symspellpy)."""
    dictionary = resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
    return frozenset(line.split(" ", 1)[0] for line in dictionary.read_text(encoding="utf-8").splitlines())


class TypoCorrector:
    """Corrects a rare word of a question to a much more frequent corpus word one edit away (Norvig-style).

    Never touched: words with digits or inside ids, emails, versions and contractions; English words
    (an inflection such as 'presents' is rare in a corpus, not a typo); and words of the row's own
    context, which protects the rare names the question is about.
    """

    _ALPHABET = "abcdefghijklmnopqrstuvwxyz"

    def __init__(self, counts: Counter, min_word_length: int, min_count: int, min_ratio: float):
        self.counts = counts
        self.min_word_length = min_word_length
        self.min_count = min_count
        self.min_ratio = min_ratio

    @staticmethod
    def words(text: str) -> list[str]:
        return _LETTERS_ONLY_WORD.findall(text.lower())

    def correct(self, question: str, context: str) -> str:
        suspects = {word for word in self.words(question) if self._suspect(word)}
        if not suspects:  # most questions: no need to look at the context at all
            return question
        suspects -= set(self.words(context))  # a word the context uses is a name, not a typo
        fixes = {word: fix for word in suspects if (fix := self._best(word)) is not None}
        if not fixes:
            return question

        def replace(match: re.Match) -> str:
            word = match.group(0)
            fix = fixes.get(word.lower(), word)
            return fix.upper() if word.isupper() and len(word) > 1 else fix.capitalize() if word[0].isupper() else fix

        return _LETTERS_ONLY_WORD.sub(replace, question)

    def _suspect(self, word: str) -> bool:
        return (
            len(word) >= self.min_word_length
            and self.counts.get(word, 0) < self.min_count
            and word not in english_words()
        )

    def _best(self, word: str) -> str | None:
        count = self.counts.get(word, 0)
        candidates = sorted(((self.counts.get(c, 0), c) for c in self._edits(word)), reverse=True)
        (best_count, best), (runner_up, _) = (candidates + [(0, None), (0, None)])[:2]
        if best_count == runner_up:  # two equally likely fixes: a guess, not a correction
            return None
        if best_count >= self.min_count and best_count >= self.min_ratio * max(count, 1):
            return best
        return None

    def _edits(self, word: str) -> set[str]:
        splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
        deletes = {a + b[1:] for a, b in splits if b}
        transposes = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        replaces = {a + c + b[1:] for a, b in splits if b for c in self._ALPHABET}
        inserts = {a + c + b for a, b in splits for c in self._ALPHABET}
        return (deletes | transposes | replaces | inserts) - {word}

"""Cleaning keeps answer offsets exact (property-based), and the typo corrector's promises."""

import unicodedata
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from reproqa.text import TypoCorrector, clean, clean_with_spans, matching_form

# Characters that change length or vanish under cleaning, next to ordinary ones.
TRICKY = "ﬁ…½İ™①Ｆ\u00a0\u200b\u200d\ufeff\t\n\r\x00\x07 "
texts = st.text(alphabet=st.sampled_from(list("abcXYZ 0123.,-'") + list(TRICKY)), max_size=80)
any_text = st.text(max_size=60)


@st.composite
def text_and_spans(draw, alphabet=texts):
    text = draw(alphabet)
    spans = []
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, len(text)))
        spans.append((start, draw(st.integers(start, len(text)))))
    return text, spans


@settings(max_examples=400, deadline=None)
@given(text_and_spans(alphabet=any_text), st.booleans())
def test_every_span_maps_to_exactly_its_own_cleaned_text(case, lowercase):
    """One answer: the span in the cleaned context holds exactly clean(answer), for any Unicode text."""
    text, spans = case
    for start, end in spans:
        cleaned, [(new_start, new_end)] = clean_with_spans(text, [(start, end)], lowercase)
        assert 0 <= new_start <= new_end <= len(cleaned)
        assert cleaned[new_start:new_end] == clean(text[start:end], lowercase)


@settings(max_examples=400, deadline=None)
@given(text_and_spans(), st.booleans())
def test_several_overlapping_answers_keep_their_offsets(case, lowercase):
    """SQuAD dev rows carry several, often overlapping, gold answers: all stay exact at once."""
    text, spans = case
    cleaned, mapped = clean_with_spans(text, spans, lowercase)
    assert cleaned == clean(text, lowercase)  # cutting at answer boundaries changes nothing else
    for (start, end), (new_start, new_end) in zip(spans, mapped):
        assert cleaned[new_start:new_end] == clean(text[start:end], lowercase)


@settings(max_examples=300, deadline=None)
@given(texts, st.booleans())
def test_cleaned_text_is_normal(text, lowercase):
    cleaned = clean(text, lowercase)
    assert cleaned == cleaned.strip() and "  " not in cleaned
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in cleaned)
    assert unicodedata.is_normalized("NFKC", cleaned) or lowercase  # 'İ'.lower() adds a combining dot
    assert clean(cleaned, lowercase) == cleaned
    if lowercase:
        assert cleaned == cleaned.lower()


def test_known_length_changes():
    context = "The ﬁrst … answer:\u00a0\u00a0Ｆoo\u200b Bar ½ end"
    start = context.index("Ｆoo")
    cleaned, [(s, e)] = clean_with_spans(context, [(start, start + len("Ｆoo\u200b Bar"))], lowercase=True)
    assert cleaned == "the first ... answer: foo bar 1⁄2 end"
    assert cleaned[s:e] == "foo bar"


def test_matching_form_ignores_case_punctuation_and_spacing():
    assert matching_form("What's  the NAME,\u00a0of app 12345?") == matching_form("what s the name of app 12345")


def corrector(**counts) -> TypoCorrector:
    return TypoCorrector(Counter(counts), min_word_length=5, min_count=3, min_ratio=10)


def test_corrects_a_rare_word_to_a_frequent_neighbour():
    assert corrector(application=100).correct("Which aplication owns it?", "") == "Which application owns it?"
    assert corrector(application=100).correct("WHICH APLICATION?", "") == "WHICH APPLICATION?"


def test_never_touches_numbers_ids_emails_or_protected_words():
    typo = corrector(application=100, system=100, zentrix=100)
    question = "Is aplication-123 or app12345 or aplicaton@example.com or systme 12345 the zentrx one?"
    fixed = typo.correct(question, context="The Zentrx gateway.")
    assert "aplication-123" in fixed and "app12345" in fixed and "aplicaton@example.com" in fixed
    assert "12345" in fixed and "zentrx" in fixed  # zentrx is in the row's context: a name, not a typo
    assert "system 12345" in fixed


def test_leaves_english_words_and_contractions_alone():
    """Real SQuAD questions: 'presents' or 'powder' are rare in a corpus but are not typos."""
    typo = corrector(present=100, power=100, could=100)
    question = "Which powder presents it and why couldn't it?"
    assert typo.correct(question, "") == question


def test_leaves_words_that_are_frequent_or_without_a_dominant_neighbour():
    typo = corrector(ledger=40, leder=5, ranger=20, rangers=20)
    assert typo.correct("leder ranger rangerz", "") == "leder ranger rangerz"

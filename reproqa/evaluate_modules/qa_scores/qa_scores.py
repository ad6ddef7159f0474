"""QA scores as an `evaluate` module, loaded from this folder (the Hub's squad scripts need internet).

EM and F1 follow the official SQuAD v2.0 evaluation script: answers are lowercased, stripped of
punctuation, of the articles a/an/the and of extra whitespace; each prediction scores the maximum over its
gold answers; a question without gold answers is right only if the prediction is empty. HasAns_* and
NoAns_* split the scores by answerability. BLEU (sacrebleu) and ROUGE-L (rouge-score) compare the predicted
and gold answer texts of answerable questions.
"""

import collections
import re
import string

import datasets
import evaluate
from rouge_score import rouge_scorer
from sacrebleu.metrics import BLEU

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(gold: str, prediction: str) -> int:
    return int(normalize_answer(gold) == normalize_answer(prediction))


def f1_score(gold: str, prediction: str) -> float:
    gold_tokens, predicted_tokens = normalize_answer(gold).split(), normalize_answer(prediction).split()
    if not gold_tokens or not predicted_tokens:
        return float(gold_tokens == predicted_tokens)
    common = sum((collections.Counter(gold_tokens) & collections.Counter(predicted_tokens)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted_tokens), common / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def gold_texts(gold: list[str]) -> list[str]:
    """The gold answers that count: [""] for an unanswerable question (no gold answer left after normalising)."""
    return [g for g in gold if normalize_answer(g)] or [""]


def best_f1(gold: list[str], prediction: str) -> float:
    """F1 of one prediction against the best of its gold answers (gold_texts)."""
    return max(f1_score(g, prediction) for g in gold_texts(gold))


class QaScores(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Rajpurkar et al., 2018 (SQuAD 2.0)",
            inputs_description=(
                "predictions: list of predicted answer texts ('' = no answer); "
                "references: list of lists of gold answer texts ([] = unanswerable)"
            ),
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}
            ),
        )

    def _compute(self, predictions, references):
        scores = {"exact": [], "f1": [], "HasAns_exact": [], "HasAns_f1": [], "NoAns_exact": [], "NoAns_f1": []}
        answered, golds_of_answered = [], []
        rouge = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        rouge_l = []
        for prediction, gold in zip(predictions, references):
            gold = gold_texts(gold)
            exact = max(exact_match(g, prediction) for g in gold)
            f1 = best_f1(gold, prediction)
            group = "HasAns" if gold != [""] else "NoAns"
            for name, value in (("exact", exact), ("f1", f1), (f"{group}_exact", exact), (f"{group}_f1", f1)):
                scores[name].append(value)
            if group == "HasAns":
                answered.append(prediction)
                golds_of_answered.append(gold)
                rouge_l.append(max(rouge.score(g, prediction)["rougeL"].fmeasure for g in gold))
        result = {name: 100.0 * sum(values) / len(values) for name, values in scores.items() if values}
        result |= {
            "total": len(predictions),
            "HasAns_total": len(scores["HasAns_exact"]),
            "NoAns_total": len(scores["NoAns_exact"]),
        }
        if answered:
            streams = max(map(len, golds_of_answered))  # sacrebleu: one stream per reference slot
            references_t = [[g[i] if i < len(g) else g[0] for g in golds_of_answered] for i in range(streams)]
            # effective order: answers are short, and plain corpus BLEU is 0 without 4-grams
            result["bleu"] = BLEU(effective_order=True).corpus_score(answered, references_t).score
            result["rougeL"] = 100.0 * sum(rouge_l) / len(rouge_l)
        return result

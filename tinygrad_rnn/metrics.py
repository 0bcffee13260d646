"""Sequence metrics for G2P and other sequence-to-sequence tasks: edit distance, phoneme and word error rates
against one or more references per example, and both broken down by input length.

>>> phoneme_error_rate([["R", "EH", "D"]], [[["R", "IY", "D"], ["R", "EH", "D"]]])
0.0
>>> word_error_rate([["R", "AY", "D"]], [[["R", "IY", "D"], ["R", "EH", "D"]]])
1.0
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from .errors import ArgumentError

__all__ = ["edit_distance", "closest_reference", "phoneme_error_rate", "word_error_rate", "error_rate_by_length"]


def edit_distance(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Levenshtein distance between two sequences: the fewest insertions, deletions and substitutions (each
    costing 1) that turn ``a`` into ``b``. Iterative dynamic programme, O(len(a) * len(b)) time, O(len(b)) memory.

    >>> edit_distance("kitten", "sitting")
    3
    >>> edit_distance(["K", "AE", "T"], ["K", "AA", "T", "S"])
    2
    >>> edit_distance([], ["A", "B"]), edit_distance("", "")
    (2, 0)
    """
    a, b = list(a), list(b)
    if len(a) < len(b):  # the shorter one indexes the row: less memory, same answer (the distance is symmetric)
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1,             # delete x
                               current[j - 1] + 1,          # insert y
                               previous[j - 1] + (x != y)))  # substitute (free when equal)
        previous = current
    return previous[-1]


def closest_reference(hypothesis: Sequence[Any], references: Sequence[Sequence[Any]]) -> tuple[int, int]:
    """``(distance, index)`` of the reference nearest to ``hypothesis`` by edit distance; among equally near
    references the shortest, then the first.

    >>> closest_reference("abc", ["abd", "ab", "xyz"])
    (1, 1)
    """
    if len(references) == 0:
        raise ArgumentError("closest_reference: every example needs at least one reference")
    best = None
    for k, ref in enumerate(references):
        key = (edit_distance(hypothesis, ref), len(ref), k)
        if best is None or key < best:
            best = key
    return best[0], best[2]


def _check(hypotheses: Sequence, references_list: Sequence, name: str) -> None:
    if len(hypotheses) != len(references_list):
        raise ArgumentError(f"{name}: {len(hypotheses)} hypotheses but {len(references_list)} reference lists")


def phoneme_error_rate(hypotheses: Sequence[Sequence[Any]], references_list: Sequence[Sequence[Sequence[Any]]]
                       ) -> float:
    """Phoneme error rate over a corpus: the sum over words of the edit distance to the word's closest reference,
    divided by the sum of the lengths of those closest references.

    ``references_list[i]`` holds all accepted pronunciations of word ``i`` (CMUdict lists several for many
    words). Each word is scored against the reference it is nearest to, so choosing any accepted pronunciation
    costs nothing; the denominator uses that same reference so the rate is the usual "errors per reference
    phoneme" for the pronunciation the model was aiming at. Ties in distance go to the shortest reference (the
    larger, more conservative rate), then to the first listed. Corpus-level (not a mean of per-word rates), so
    long words weigh more, as in speech recognition's error rates. An empty corpus, or references that are all
    empty and matched exactly, give 0.0; errors against only empty references give ``inf``.

    >>> phoneme_error_rate([["K", "AE", "T"], ["D", "AO"]], [[["K", "AE", "T"]], [["D", "AO", "G"]]])
    0.16666666666666666
    >>> phoneme_error_rate([["T", "AH", "M", "EY", "T", "OW"]],
    ...                    [[["T", "AH", "M", "AA", "T", "OW"], ["T", "AH", "M", "EY", "T", "OW"]]])
    0.0
    """
    _check(hypotheses, references_list, "phoneme_error_rate")
    errors = length = 0
    for hyp, refs in zip(hypotheses, references_list):
        distance, k = closest_reference(hyp, refs)
        errors += distance
        length += len(refs[k])
    if length == 0:
        return 0.0 if errors == 0 else math.inf
    return errors / length


def word_error_rate(hypotheses: Sequence[Sequence[Any]], references_list: Sequence[Sequence[Sequence[Any]]]
                    ) -> float:
    """The fraction of words whose hypothesis equals none of their references (0.0 for an empty corpus).

    >>> word_error_rate([["K", "AE", "T"], ["D", "AO"]], [[["K", "AE", "T"]], [["D", "AO", "G"]]])
    0.5
    >>> word_error_rate([[]], [[[]]])
    0.0
    """
    _check(hypotheses, references_list, "word_error_rate")
    if len(hypotheses) == 0:
        return 0.0
    wrong = 0
    for hyp, refs in zip(hypotheses, references_list):
        if len(refs) == 0:
            raise ArgumentError("word_error_rate: every example needs at least one reference")
        hyp = list(hyp)  # a tuple and a list with the same symbols are the same pronunciation
        wrong += not any(hyp == list(ref) for ref in refs)
    return wrong / len(hypotheses)


def error_rate_by_length(words: Sequence[Sequence[Any]], hypotheses: Sequence[Sequence[Any]],
                         references_list: Sequence[Sequence[Sequence[Any]]],
                         buckets: Sequence[int] = (4, 6, 8, 10, 12)) -> dict[str, tuple[int, float, float]]:
    """WER and PER by the length of the input word: ``{bucket: (count, WER, PER)}``.

    ``buckets`` are increasing inclusive upper bounds; ``(4, 8)`` makes the buckets ``"1-4"``, ``"5-8"`` and
    ``"9+"`` (a word of length 0 counts in the first). Keys come in increasing order; empty buckets are left out.

    >>> words = ["at", "cat", "house"]
    >>> hyps = [["AE", "T"], ["K", "AE", "D"], ["HH", "AW", "S"]]
    >>> refs = [[["AE", "T"]], [["K", "AE", "T"]], [["HH", "AW", "S"]]]
    >>> error_rate_by_length(words, hyps, refs, buckets=(3,))
    {'1-3': (2, 0.5, 0.2), '4+': (1, 0.0, 0.0)}
    """
    _check(hypotheses, references_list, "error_rate_by_length")
    if len(words) != len(hypotheses):
        raise ArgumentError(f"error_rate_by_length: {len(words)} words but {len(hypotheses)} hypotheses")
    bounds = list(buckets)
    if any(b <= a for a, b in zip(bounds, bounds[1:])) or (bounds and bounds[0] < 1):
        raise ArgumentError(f"error_rate_by_length: buckets must be increasing positive upper bounds, got {buckets}")
    labels = [f"{lo}-{hi}" for lo, hi in zip([1] + [b + 1 for b in bounds], bounds)]
    labels.append(f"{bounds[-1] + 1}+" if bounds else "1+")
    groups: dict[int, list[int]] = {}
    for i, word in enumerate(words):
        k = next((j for j, hi in enumerate(bounds) if len(word) <= hi), len(bounds))
        groups.setdefault(k, []).append(i)
    out = {}
    for k in sorted(groups):
        idx = groups[k]
        hyps = [hypotheses[i] for i in idx]
        refs = [references_list[i] for i in idx]
        out[labels[k]] = (len(idx), word_error_rate(hyps, refs), phoneme_error_rate(hyps, refs))
    return out

"""Sequence metrics checked against hand-worked examples."""
import math

import pytest

from tinygrad_rnn.metrics import (closest_reference, edit_distance, error_rate_by_length, phoneme_error_rate,
                                  word_error_rate)


@pytest.mark.parametrize("a, b, expected", [
    ("", "", 0),
    ("", "abc", 3),
    ("abc", "", 3),
    ("abc", "abc", 0),
    ("kitten", "sitting", 3),          # k→s, e→i, +g
    ("flaw", "lawn", 2),               # -f, +n
    ("intention", "execution", 5),
    ("ab", "ba", 2),                   # no transpositions in Levenshtein
    (["HH", "AH", "L", "OW"], ["HH", "EH", "L", "OW"], 1),
    (("K", "AE", "T"), ["K", "AE", "T", "S"], 1),
])
def test_edit_distance_hand_worked(a, b, expected):
    assert edit_distance(a, b) == expected
    assert edit_distance(b, a) == expected


def test_edit_distance_is_a_metric_on_random_strings():
    import random

    rng = random.Random(0)
    words = ["".join(rng.choice("abc") for _ in range(rng.randint(0, 7))) for _ in range(30)]
    for x in words[:10]:
        for y in words[10:20]:
            for z in words[20:]:
                assert edit_distance(x, z) <= edit_distance(x, y) + edit_distance(y, z)
            assert abs(len(x) - len(y)) <= edit_distance(x, y) <= max(len(x), len(y))


def test_per_picks_the_closest_reference():
    hyp = [["T", "AH", "M", "AA", "T", "OW", "Z"]]
    refs = [[["T", "AH", "M", "EY", "T", "OW"], ["T", "AH", "M", "AA", "T", "OW"]]]
    assert phoneme_error_rate(hyp, refs) == pytest.approx(1 / 6)  # one insertion against the second reference
    assert phoneme_error_rate(hyp, [refs[0][:1]]) == pytest.approx(2 / 6)
    assert word_error_rate(hyp, refs) == 1.0
    assert word_error_rate([refs[0][1]], refs) == 0.0 and phoneme_error_rate([refs[0][1]], refs) == 0.0


def test_per_ties_go_to_the_shortest_reference():
    # "ab" is one edit from both "abc" and "a": the shorter one is the denominator
    assert closest_reference("ab", ["abc", "a"]) == (1, 1)
    assert phoneme_error_rate(["ab"], [["abc", "a"]]) == 1.0
    assert closest_reference("ab", ["abd", "abc"]) == (1, 0)  # same length: the first listed


def test_per_is_corpus_level():
    hyps = [["A"], ["B", "C", "D", "E"]]
    refs = [[["X"]], [["B", "C", "D", "E"]]]
    assert phoneme_error_rate(hyps, refs) == pytest.approx(1 / 5)  # not the mean (1 + 0) / 2 of per-word rates
    assert word_error_rate(hyps, refs) == 0.5


def test_empty_sequences_and_corpora():
    assert phoneme_error_rate([], []) == 0.0 and word_error_rate([], []) == 0.0
    assert phoneme_error_rate([[]], [[[]]]) == 0.0 and word_error_rate([[]], [[[]]]) == 0.0
    assert phoneme_error_rate([["A"]], [[[]]]) == math.inf and word_error_rate([["A"]], [[[]]]) == 1.0
    assert phoneme_error_rate([[]], [[["A", "B"]]]) == 1.0  # two deletions over two reference phonemes
    assert word_error_rate([("A", "B")], [[["A", "B"]]]) == 0.0  # tuple vs list: the same pronunciation


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="2 hypotheses but 1"):
        phoneme_error_rate([["A"], ["B"]], [[["A"]]])
    with pytest.raises(ValueError, match="at least one reference"):
        phoneme_error_rate([["A"]], [[]])
    with pytest.raises(ValueError, match="at least one reference"):
        word_error_rate([["A"]], [[]])
    with pytest.raises(ValueError, match="increasing"):
        error_rate_by_length(["a"], [["A"]], [[["A"]]], buckets=(4, 4))


def test_error_rate_by_length_buckets():
    words = ["a", "ab", "abcd", "abcde", "abcdefghij"]
    hyps = [["A"], ["X", "B"], ["A", "B", "C", "D"], ["A", "B", "C", "D"], ["A"] * 10]
    refs = [[["A"]], [["A", "B"]], [["A", "B", "C", "D"]], [["A", "B", "C", "D", "E"]], [["A"] * 10]]
    out = error_rate_by_length(words, hyps, refs, buckets=(2, 4, 6))
    assert list(out) == ["1-2", "3-4", "5-6", "7+"]
    assert out["1-2"] == (2, 0.5, pytest.approx(1 / 3))
    assert out["3-4"] == (1, 0.0, 0.0)
    assert out["5-6"] == (1, 1.0, pytest.approx(1 / 5))
    assert out["7+"] == (1, 0.0, 0.0)
    assert sum(c for c, _, _ in out.values()) == len(words)
    assert list(error_rate_by_length(words, hyps, refs, buckets=(1, 20, 30))) == ["1-1", "2-20"]  # empty ones left out
    assert list(error_rate_by_length(words, hyps, refs, buckets=())) == ["1+"]

"""The lectures' tasks (tinygrad_rnn.tasks), each in --quick mode: sequence → class (S1), class → sequence (S2),
and character-level sequence tagging of Python source with a unidirectional and a bidirectional LSTM."""
import pathlib
import subprocess
import sys
import tokenize

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.tasks import generate, sentiment, tagging

ROOT = pathlib.Path(__file__).resolve().parents[1]
quiet = lambda *args: None


# -- data and numbering -------------------------------------------------------------------------------------------
def test_vocabulary_is_the_lectures_numbering():
    assert sentiment.VOCAB == tuple("allowed always and are been cat cats dogs enemies have i is it lap love my "
                                    "natural not raining water".split())
    assert sentiment.encode("I love my cat.") == [10, 14, 15, 5]  # word₁₁ word₁₅ word₁₆ word₆
    assert (generate.START, generate.END) == (20, 21)  # <start> = word₂₁, <end> = word₂₂, the last slot
    assert generate.target_ids("I love my cat.") == [10, 14, 15, 5, 21]
    assert [label for _, label in sentiment.CORPUS] == ["⊕", "⊕", "⊖", "⊖", "⊖"]


# -- S1: sequence → class ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant, cell", [("onehot", "lstm"), ("embedding", "lstm"), ("embedding", "gru")])
def test_sentiment_reaches_full_training_accuracy(variant, cell):
    result = sentiment.run(quick=True, variants=(variant,), cell=cell, log=quiet)[variant]
    assert result["accuracy"] == 1.0
    assert result["first_perfect"] is not None
    for (_, label), (p_pos, p_neg) in zip(sentiment.CORPUS, result["probabilities"], strict=True):
        assert abs(p_pos + p_neg - 1) < 1e-5
        assert (p_pos > 0.5) == (label == "⊕")


def test_sentiment_is_deterministic_given_the_seed():
    first = sentiment.run(quick=True, variants=("onehot",), seed=3, log=quiet)["onehot"]["losses"]
    again = sentiment.run(quick=True, variants=("onehot",), seed=3, log=quiet)["onehot"]["losses"]
    other = sentiment.run(quick=True, variants=("onehot",), seed=4, log=quiet)["onehot"]["losses"]
    assert first == again and first != other


def test_onehot_model_unrolls_one_step_per_word():
    import tinygrad_rnn as tr

    model = sentiment.OneHotClassifier(hidden_size=3)
    logits = model(sentiment.encode("Cats and dogs lap water."))
    steps = {node.step for node in tr.graph.trace(logits).find(name="h")}
    assert steps == {1, 2, 3, 4, 5}  # the lecture's t = 1..T


# -- S2: class → sequence ------------------------------------------------------------------------------------------
def test_generation_reproduces_every_training_sentence_exactly():
    result = generate.run(quick=True, conditionings=("class+index",), log=quiet)["class+index"]
    texts = [g["text"] for g in result["generated"]]
    assert texts == [" ".join(sentiment.words(s)) for s, _ in sentiment.CORPUS]
    assert result["exact"] == result["conditions"] == 5


def test_class_only_generation_produces_a_training_sentence_of_its_class():
    result = generate.run(quick=True, conditionings=("class",), log=quiet)["class"]
    of_class = {label: {" ".join(sentiment.words(s)) for s, c in sentiment.CORPUS if c == label}
                for label in sentiment.CLASSES}
    for g in result["generated"]:
        assert g["text"] in of_class[g["condition"]]


def test_teacher_forcing_and_free_running_agree_on_a_trained_model():
    model, _ = generate.train("class+index", quick=True)
    x = generate.condition_vector("class+index", "⊕", 0)
    assert generate.TOKENS[model.generate(x)[0]] == "i"
    assert model.log_probability(x, "I love my cat.") > -0.5  # the chain rule gives it nearly all the mass


# -- tagging ---------------------------------------------------------------------------------------------------------
def test_labeller_on_a_hand_written_snippet():
    names = lambda source: [tagging.CLASSES[k] for k in tagging.label_chars(source)]
    assert names("x = 1  # hi") == ["name", "other", "operator", "other", "number", "other", "other",
                                    "comment", "comment", "comment", "comment"]
    source = "if a:\n    s = '''x\ny'''\n"
    labels = names(source)
    assert labels[:2] == ["keyword", "keyword"] and labels[3] == "name" and labels[4] == "operator"
    assert labels[5:10] == ["other"] * 5  # newline and indentation
    start = source.index("'''")
    assert set(labels[start:start + 9]) == {"string"}  # a multi-line string, its newline included
    assert names("not_x") == ["name"] * 5  # a keyword prefix inside a name is a name
    assert names("f'{a}'") == ["string"] * 6  # f-strings are string throughout, on every Python version


def test_labeller_keeps_an_f_string_whole_around_its_escapes():
    """Python 3.12+ splits f-strings into parts whose ends stop short of {{ and }}; the literal stays string."""
    source = 'x = f"a{{b}}c{d!r:>{w}}" + y'
    labels = [tagging.CLASSES[k] for k in tagging.label_chars(source)]
    start, end = source.index('f"'), source.rindex('"') + 1
    assert set(labels[start:end]) == {"string"}
    assert labels[:end] == ["name", "other", "operator", "other"] + ["string"] * (end - start)
    assert labels[end:] == ["other", "operator", "other", "name"]


@pytest.mark.parametrize("source", ["x = 'abc\n", "s = \"unclosed\n"])
def test_labeller_raises_on_an_unterminated_string(source):
    with pytest.raises(tokenize.TokenError):  # Python 3.10/3.11's tokenize only marks it and goes on
        tagging.label_chars(source)


def test_tagging_chunks_start_anywhere_up_to_the_last_full_chunk():
    rows = tagging.chunk_rows(np.random.default_rng(0), 12, 5, 4000)
    assert rows.shape == (4000, 5) and (np.diff(rows, axis=1) == 1).all()
    assert set(rows[:, 0].tolist()) == set(range(8))  # 12 - 5 + 1 starts: the last character is used too
    with pytest.raises(ValueError, match="12 characters holds no chunk of 13"):
        tagging.chunk_rows(np.random.default_rng(0), 12, 13, 1)


def test_tagging_predicts_without_recording_a_graph():
    seen = []

    class Watched(tagging.CharTagger):
        def forward(self, tokens):
            out = super().forward(tokens)
            seen.append((tr.is_grad_enabled(), out.requires_grad))
            return out

    model = Watched(5, bidirectional=False, hidden_size=4, embed_size=3)
    assert tagging.predict(model, np.arange(12) % 5, 4, batch=2).shape == (12,)
    assert seen == [(False, False)] * 2


def test_tagging_quick_runs_and_reports_accuracies():
    result = tagging.run(quick=True, log=quiet)
    for key in ("baseline", "unidirectional", "bidirectional"):
        assert 0.0 <= result[key] <= 1.0
    assert result["unidirectional_losses"][-1] < result["unidirectional_losses"][0]
    assert result["bidirectional_losses"][-1] < result["bidirectional_losses"][0]


def test_task_entry_points_write_their_logs(tmp_path):
    assert sentiment.main(["--quick", "--variant", "embedding", "--out", str(tmp_path)]) == 0
    assert generate.main(["--quick", "--out", str(tmp_path)]) == 0
    assert tagging.main(["--quick", "--steps", "3", "--out", str(tmp_path)]) == 0
    for name in ("sentiment_embedding.jsonl", "sentiment.json", "generate_class.jsonl", "generate.json",
                 "tagging_uni.jsonl", "tagging_bi.jsonl", "tagging.json"):
        assert (tmp_path / name).exists(), name


@pytest.mark.parametrize("script", ["sentiment.py", "class_to_sequence.py", "tagging.py"])
def test_example_wrappers(script):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout

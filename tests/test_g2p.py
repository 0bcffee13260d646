"""The G2P task end to end in quick mode: train, checkpoint, resume, eval, pronounce, and what bad input gets."""
import json

import numpy as np
import pytest

from tinygrad_rnn.data import UnknownSymbolWarning, Vocab, load_g2p
from tinygrad_rnn.serialization import load
import tinygrad_rnn as tr
from tinygrad_rnn.tasks import g2p


def quiet(*args, **kwargs):
    pass


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("g2p")
    result = g2p.train(out_dir=str(folder), quick=True, epochs=2, progress=False, log=quiet)
    return folder, result


def test_quick_training_learns_and_keeps_the_best_dev_checkpoint(trained):
    folder, result = trained
    pers = [h["dev_per"] for h in result["history"]]
    assert len(pers) == 2 and pers[-1] < pers[0] < 1.0  # the phoneme error falls from epoch to epoch
    assert result["best"]["dev_per"] == min(pers)
    meta = json.loads((folder / "best.json").read_text())
    assert meta["extra"]["dev"]["per"] == min(pers) and meta["config"]["model"]["attention"] == "additive"
    assert (folder / "last.npz").exists() and (folder / "metrics.jsonl").read_text().count("\n") >= 1


def test_resume_continues_the_same_run(trained, tmp_path):
    folder, result = trained
    # one epoch, then a resumed second: the same updates, dev scores and weights as the uninterrupted two epochs
    first = g2p.train(out_dir=str(tmp_path), quick=True, epochs=1, progress=False, log=quiet)
    resumed = g2p.train(out_dir=str(tmp_path), quick=True, epochs=2, resume=True, progress=False, log=quiet)
    assert first["updates"] * 2 == resumed["updates"] == result["updates"]
    assert resumed["history"] == [dict(h, seconds=r["seconds"])
                                  for h, r in zip(result["history"], resumed["history"], strict=True)]
    _same_weights(folder / "last", tmp_path / "last")


def _same_weights(a, b):
    ours, theirs = load(str(a) + ".npz"), load(str(b) + ".npz")
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


@pytest.mark.parametrize("limit", ["clock", "updates"])
def test_a_run_stopped_mid_epoch_resumes_exactly(trained, tmp_path, monkeypatch, limit):
    """Stopped by the clock or by its number of updates inside epoch 2, then resumed without the limit."""
    folder, result = trained
    per_epoch = result["updates"] // 2
    if limit == "clock":
        clock = iter(range(0, 10_000, 1))  # each reading of the clock is one second later
        monkeypatch.setattr(g2p.time, "perf_counter", lambda: float(next(clock)))
    limits = {"minutes": 0.5} if limit == "clock" else {"updates": per_epoch + 5}
    cut = g2p.train(out_dir=str(tmp_path), quick=True, epochs=2, progress=False, log=quiet, **limits)
    monkeypatch.undo()
    assert cut["final"] is not None and per_epoch < cut["updates"] < 2 * per_epoch  # stopped inside epoch 2
    assert limit == "clock" or cut["updates"] == cut["final"]["update"] == per_epoch + 5
    # the extra look at dev is not an end-of-epoch check: the history holds epoch 1 only
    assert [h["dev_per"] for h in cut["history"]] == [result["history"][0]["dev_per"]]
    again = g2p.train(out_dir=str(tmp_path), quick=True, epochs=2, resume=True, progress=False, log=quiet, **limits)
    assert again["updates"] == cut["updates"]  # the budget is spent: nothing more is trained
    assert again["best"] == cut["best"]  # the check that ended the cut run is still the best, if it was
    done = g2p.train(out_dir=str(tmp_path), quick=True, epochs=2, minutes=60, resume=True, progress=False, log=quiet)
    assert done["updates"] == result["updates"]
    assert [h["dev_per"] for h in done["history"]] == [h["dev_per"] for h in result["history"]]
    _same_weights(folder / "last", tmp_path / "last")


def test_a_fresh_run_refuses_a_folder_that_holds_one(trained):
    folder, _ = trained
    with pytest.raises(FileExistsError, match="--resume"):
        g2p.train(out_dir=str(folder), quick=True, progress=False, log=quiet)


def test_eval_scores_greedy_and_beam_and_checks_the_vocabulary(trained):
    folder, _ = trained
    model, src_vocab, tgt_vocab, _ = g2p.load_model(str(folder / "best"))
    data = load_g2p()
    g2p.check_vocabularies(src_vocab, tgt_vocab, data)
    greedy = g2p.score(model, data, "test", beam=1, limit=60)
    beam = g2p.score(model, data, "test", beam=3, limit=60)
    assert greedy["words"] == beam["words"] == 60
    assert 0.0 < greedy["per"] < 1.0 and set(greedy["by_length"]) <= {"1-4", "5-6", "7-8", "9-10", "11-12", "13+"}
    assert sum(count for count, _, _ in greedy["by_length"].values()) == 60
    with pytest.raises(ValueError, match="phoneme vocabulary"):
        g2p.check_vocabularies(src_vocab, Vocab(["AA", "B"]), data)


def test_pronounce_maps_unknown_letters_to_unk_with_a_warning(trained, capsys):
    folder, _ = trained
    with pytest.warns(UnknownSymbolWarning, match="ö"):
        g2p.main(["pronounce", "--checkpoint", str(folder / "best"), "--beam", "2", "--nbest", "2", "Wörld", "cat"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["wörld", "cat"] and all("|" in line for line in lines)


def test_bad_input_gets_clear_errors(trained, tmp_path, capsys):
    folder, _ = trained
    model, src_vocab, tgt_vocab, _ = g2p.load_model(str(folder / "best"))
    with pytest.raises(ValueError, match="beam width must be at least 1"):
        g2p.transcribe(model, ["cat"], src_vocab, tgt_vocab, beam=0)
    with pytest.raises(FileNotFoundError, match="g2p train"):
        g2p.load_model(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="batch_size"):
        g2p.train(out_dir=str(tmp_path), batch_size=0, log=quiet)
    with pytest.raises(ValueError, match="at least 1"):
        g2p.spread(["a", "b"], 0)
    # on the command line: one line saying what is wrong, no traceback
    for argv, message in ((["pronounce", "--checkpoint", str(folder / "best"), ""], "empty word"),
                          (["pronounce", "--checkpoint", str(folder / "best"), "--beam", "2", "--nbest", "3", "cat"],
                           "--nbest"),
                          (["eval", "--checkpoint", str(folder / "best"), "--beam", "1,x"], "comma-separated"),
                          (["eval", "--checkpoint", str(tmp_path / "missing")], "no checkpoint"),
                          (["train", "--out", str(folder), "--quick"], "--resume")):
        with pytest.raises(SystemExit) as exit_info:
            g2p.main(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_spread_takes_words_from_the_whole_alphabet():
    words = [f"{letter}{k}" for letter in "abcdefghij" for k in range(10)]
    assert g2p.spread(words, 10) == [f"{letter}0" for letter in "abcdefghij"] and g2p.spread(words, None) == words


def test_claims_quick_trains_the_three_models(tmp_path):
    results = g2p.claims(out_dir=str(tmp_path), minutes=0.2, quick=True, log=quiet)
    assert list(results) == list(g2p.CLAIMS)
    assert results["no attention, reversed"]["options"]["reverse_input"] is True
    assert all(r["score"]["words"] == g2p.QUICK["dev_words"] for r in results.values())
    saved = json.loads((tmp_path / "claims.json").read_text())
    assert saved["attention"]["score"]["per"] == results["attention"]["score"]["per"]


def test_beam_scores_at_least_greedys_on_the_trained_model(trained):
    from tinygrad_rnn import decode
    from tinygrad_rnn.data import make_batch

    folder, _ = trained
    model, src_vocab, tgt_vocab, _ = g2p.load_model(str(folder / "best"))
    words = g2p.spread(load_g2p().words("test"), 200)
    batch = make_batch([(w, []) for w in words], range(len(words)), src_vocab, tgt_vocab)
    src = tr.tensor(batch.src)
    greedy = np.array(decode.greedy(model, src, batch.src_lengths, max_len=32).scores)
    beam = np.array(decode.beam_search(model, src, batch.src_lengths, beam_width=5, max_len=32).scores)
    # beam search is not guaranteed to contain greedy's path (it can be pruned by prefixes that end worse), but on
    # a real model it finds a sequence at least as probable for (nearly) every word, and more probable on average
    assert np.mean(beam >= greedy - 1e-5) >= 0.97 and beam.mean() > greedy.mean()


def _copy_pair(source, folder, name="best"):
    import shutil

    for suffix in (".npz", ".json"):
        shutil.copy(str(source) + suffix, folder / (name + suffix))
    return folder / name


def test_eval_refuses_a_best_pair_torn_by_a_kill(trained, tmp_path, capsys):
    """The old writer's window: a new best.npz beside the previous best.json. Eval used to load it unnoticed."""
    folder, _ = trained
    path = _copy_pair(folder / "best", tmp_path)
    arrays = load(str(path) + ".npz")
    arrays["model/decoder.out.bias"] = arrays["model/decoder.out.bias"] + 1.0  # a later update's weights
    tr.save(arrays, str(path) + ".npz")
    with pytest.raises(SystemExit) as exit_info:
        g2p.main(["eval", "--checkpoint", str(path), "--limit", "5"])
    assert exit_info.value.code == 2 and "best.npz" in capsys.readouterr().err

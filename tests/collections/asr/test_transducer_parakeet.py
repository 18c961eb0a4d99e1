"""Parakeet compatibility: NeMo's FastConformer-TDT .nemo restores with NeMo's numbers, and the full
parakeet-tdt-0.6b-v2 architecture has NeMo's exact state-dict keys, shapes and parameter count."""

import importlib.util
import json
import random
from pathlib import Path
from types import SimpleNamespace

import torch
from omegaconf import OmegaConf, open_dict

from nemo.collections.asr.models import EncDecRNNTBPEModel

DATA = Path(__file__).resolve().parent / "data" / "fastconformer"


def _checker():
    spec = importlib.util.spec_from_file_location("check_fastconformer", DATA / "check_fastconformer.py")
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    return checker


def test_nemo_checker_tdt_section_passes():
    """NeMo's checker: keys, features, encoder, prediction net, joint (1e-4), greedy_batch and greedy token ids,
    scores, frames, TDT durations, transcribe() texts and char/word/segment timestamps, save + restore."""
    checker = _checker()
    report = checker.Report()
    facts = json.loads((DATA / "fc_expected.json").read_text())
    checker.check_tdt(report, facts, SimpleNamespace(atol=1e-4, score_atol=1e-3))
    assert report.failed == 0 and report.passed == 16


def _tokenizer_dir(root: Path, pieces: int) -> str:
    """A SentencePiece BPE with `pieces` pieces (parakeet-v2's size) trained on seeded pseudo-words."""
    import sentencepiece as spm

    rnd = random.Random(0)
    words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9))) for _ in range(6000)]
    (root / "text.txt").write_text("\n".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12)) + "\n")
    spm.SentencePieceTrainer.train(input=str(root / "text.txt"), model_prefix=str(root / "tokenizer"),
                                   vocab_size=pieces, model_type="bpe", character_coverage=1.0, bos_id=-1, eos_id=-1,
                                   minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=str(root / "tokenizer.model"))
    (root / "vocab.txt").write_text("".join(sp.id_to_piece(i) + "\n" for i in range(sp.get_piece_size())))
    return str(root)


def test_parakeet_tdt_0_6b_v2_architecture_matches_nemo(tmp_path):
    """Built from the config NeMo wrote into the .nemo (meta device: no memory, no init), 725 entries in order."""
    cfg = OmegaConf.load(DATA / "parakeet_tdt_0.6b_v2_config.yaml")
    with open_dict(cfg):
        cfg.tokenizer = {"dir": _tokenizer_dir(tmp_path, 1024), "type": "bpe"}
    with torch.device("meta"):
        model = EncDecRNNTBPEModel(cfg=cfg)
    expected = [line.split("\t") for line in (DATA / "parakeet_tdt_0.6b_v2_state_dict.txt").read_text().splitlines()
                if not line.startswith("#")]
    ours = [[k, str(tuple(v.shape)), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]
    assert ours == expected
    facts = json.loads((DATA / "parakeet_tdt_0.6b_v2_facts.json").read_text())
    assert sum(p.numel() for p in model.parameters()) == facts["n_params"] == 617_825_926
    per_module = {name: sum(p.numel() for p in getattr(model, name).parameters()) for name in facts["params_per_module"]}
    assert per_module == facts["params_per_module"]
    assert sum(v.numel() for v in model.state_dict().values()) == facts["state_dict_elements"]
    assert model.decoding.blank_id == 1024 and model.joint.num_classes_with_blank == 1030
    assert list(model.cfg.decoding.durations) == [0, 1, 2, 3, 4]

"""Tiny NLP fixtures: a WordPiece vocab, TSV data, a random-init 2-layer BERT config, and a
SentencePiece model plus parallel text for translation. Nothing touches the network."""

import os

import pytest
from omegaconf import OmegaConf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """These models are tiny: one intra-op thread is faster than two, much faster on a shared box.
    (Subprocesses in these tests get OMP_NUM_THREADS=1 for the same reason.)"""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

WORDS = ("the a cat dog sat on mat ran fast slow red blue green big small tree house car road sun moon "
         "happy sad good bad very not is was bird fish").split()
POSITIVE = ("good", "happy", "big", "sun", "fast")


def write_vocab(path):
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    with open(path, "w") as f:
        f.write("\n".join(specials + WORDS + [".", ","]) + "\n")
    return str(path)


def write_tsv(path, n=40, num_classes=2, header=True, seed=0):
    import random

    rng = random.Random(seed)
    lines = ["sentence\tlabel"] if header else []
    for i in range(n):
        label = i % num_classes
        words = rng.sample(WORDS, 5)
        if label == 1:
            words[rng.randrange(5)] = rng.choice(POSITIVE)
        else:
            words = [w for w in words if w not in POSITIVE] or ["the"]
        lines.append(f"{' '.join(words)}\t{label}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


BERT_TINY = dict(
    model_type="bert", vocab_size=40, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    intermediate_size=64, max_position_embeddings=64, type_vocab_size=2,
)


def text_classification_cfg(tmp_path, num_classes=2, with_data=True, **overrides):
    vocab = write_vocab(tmp_path / "vocab.txt")
    data = {}
    if with_data:
        train = write_tsv(tmp_path / "train.tsv", n=32, num_classes=num_classes)
        dev = write_tsv(tmp_path / "dev.tsv", n=16, num_classes=num_classes, seed=1)
        data = {
            "train_ds": {"file_path": train, "batch_size": 8, "shuffle": True, "num_workers": 0},
            "validation_ds": {"file_path": dev, "batch_size": 8, "shuffle": False, "num_workers": 0},
            "test_ds": {"file_path": dev, "batch_size": 8, "shuffle": False, "num_workers": 0},
        }
    cfg = {
        "tokenizer": {"tokenizer_name": "bert-base-uncased", "vocab_file": vocab, "tokenizer_model": None, "special_tokens": None},
        "language_model": {"pretrained_model_name": "bert-base-uncased", "lm_checkpoint": None, "config_file": None, "config": dict(BERT_TINY)},
        "classifier_head": {"num_output_layers": 2, "fc_dropout": 0.1},
        "class_labels": {"class_labels_file": None},
        "dataset": {"num_classes": num_classes, "do_lower_case": True, "max_seq_length": 16, "class_balancing": None, "use_cache": False},
        "optim": {"name": "adam", "lr": 1e-3, "sched": {"name": "WarmupAnnealing", "warmup_ratio": 0.1}},
        **data,
    }
    cfg = OmegaConf.create(cfg)
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


@pytest.fixture
def tc_cfg(tmp_path):
    return text_classification_cfg(tmp_path)


def make_spm(tmp_path, sentences, vocab_size=60):
    from nemo.collections.common.tokenizers.sentencepiece_tokenizer import create_spt_model

    text = tmp_path / "spm_train.txt"
    text.write_text("\n".join(sentences) + "\n")
    model, _ = create_spt_model(str(text), vocab_size, sample_size=-1, do_lower_case=False, tokenizer_type="bpe",
                                output_dir=str(tmp_path / "spm"), bos=True, eos=True, pad=True)
    return model


EN = ["the cat sat on the mat", "a dog ran fast", "open the file", "save the file", "close the window",
      "the file was not found", "delete the file", "open a new window", "the dog is big", "a cat is small"]
DE = ["die katze sass auf der matte", "ein hund lief schnell", "datei oeffnen", "datei speichern", "fenster schliessen",
      "die datei wurde nicht gefunden", "datei loeschen", "neues fenster oeffnen", "der hund ist gross", "eine katze ist klein"]


def mt_cfg(tmp_path, **overrides):
    from nemo.collections.nlp.models.machine_translation.mt_enc_dec_config import AAYNBaseConfig

    model = make_spm(tmp_path, EN + DE)
    (tmp_path / "src.txt").write_text("\n".join(EN * 2) + "\n")
    (tmp_path / "tgt.txt").write_text("\n".join(DE * 2) + "\n")
    cfg = OmegaConf.structured(AAYNBaseConfig())
    small = dict(hidden_size=32, inner_size=64, num_layers=2, num_attention_heads=2, max_sequence_length=64,
                 ffn_dropout=0.0, attn_score_dropout=0.0, attn_layer_dropout=0.0, num_token_types=0)
    cfg.encoder.update(small)
    cfg.decoder.update(small)
    cfg.encoder_tokenizer.tokenizer_model = model
    cfg.decoder_tokenizer.tokenizer_model = model
    cfg.src_language, cfg.tgt_language = "en", "de"
    cfg.beam_size, cfg.len_pen, cfg.max_generation_delta = 2, 0.6, 5
    for split in ("train_ds", "validation_ds", "test_ds"):
        cfg[split].src_file_name = str(tmp_path / "src.txt")
        cfg[split].tgt_file_name = str(tmp_path / "tgt.txt")
        cfg[split].tokens_in_batch = 128
        cfg[split].num_workers = 0
    cfg.optim.lr = 3e-3
    cfg.optim.sched.warmup_ratio = 0.1
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    return cfg

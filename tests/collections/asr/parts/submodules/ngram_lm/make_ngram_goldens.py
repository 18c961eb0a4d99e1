"""Golden files for the n-gram LM tests, in two steps (outputs committed under data/):

1. `.venv/bin/python -m tests.collections.asr.parts.submodules.ngram_lm.make_ngram_goldens ours`
   writes data/kn3.arpa (our Kneser-Ney on seeded random sentences, with token ids 33 and 60, whose characters
   U+0085 and U+00A0 are whitespace to str.split) and data/ours_lm.nemo (our NGramGPULanguageModel of it).
2. `/tmp/nemo_ref/bin/python tests/collections/asr/parts/submodules/ngram_lm/make_ngram_goldens.py nemo`
   (NVIDIA NeMo 3.0.0) writes data/nemo_lm.nemo (NeMo's NGPU-LM of the same ARPA), data/nemo_lm_scores.npz
   (NeMo's advance() over every state and score_sentences() of fixed sequences) and checks that NeMo restores
   data/ours_lm.nemo with the same tensors.
"""

import os
import sys

import numpy as np

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
VOCAB = 64
SEQS = [[0, 33, 60, 1, 2], [5, 5, 5, 0, 0], [63, 33, 33, 60, 7], [1, 2, 3, 4, 6]]


def sentences():
    rng = np.random.default_rng(0)
    out = []
    for _ in range(300):
        n = int(rng.integers(1, 9))
        out.append([int(x) for x in rng.choice([0, 1, 2, 3, 4, 5, 33, 60, 61, 62], size=n)])
    return out


def ours():
    from nemo.collections.asr.parts.submodules.ngram_lm import NGramGPULanguageModel, estimate_kneser_ney, write_arpa

    arpa = os.path.join(DATA, "kn3.arpa")
    write_arpa(arpa, estimate_kneser_ney(sentences(), 3))
    NGramGPULanguageModel.from_arpa(arpa, vocab_size=VOCAB).save_to(os.path.join(DATA, "ours_lm.nemo"))


def nemo():
    import torch
    from nemo.collections.asr.parts.submodules.ngram_lm import NGramGPULanguageModel

    lm = NGramGPULanguageModel.from_arpa(os.path.join(DATA, "kn3.arpa"), vocab_size=VOCAB)
    lm.save_to(os.path.join(DATA, "nemo_lm.nemo"))
    with torch.no_grad():
        states = torch.arange(lm.num_states)
        scores, nxt = lm.advance(states)
        final = lm.get_final(states)
        sent = lm.score_sentences(torch.tensor(SEQS), torch.tensor([5, 3, 5, 4]), bos=True, eos=True)
    np.savez(os.path.join(DATA, "nemo_lm_scores.npz"), scores=scores.numpy(), next_states=nxt.numpy(),
             final=final.numpy(), sentences=sent.numpy(), seqs=np.array(SEQS), lengths=np.array([5, 3, 5, 4]))
    mine = NGramGPULanguageModel.restore_from(os.path.join(DATA, "ours_lm.nemo"))
    same = all(torch.equal(a, b) for a, b in zip(mine.state_dict().values(), lm.state_dict().values()))
    print("NeMo restores ours_lm.nemo with identical tensors:", same,
          "| keys equal:", list(mine.state_dict()) == list(lm.state_dict()))


if __name__ == "__main__":
    {"ours": ours, "nemo": nemo}[sys.argv[1]]()

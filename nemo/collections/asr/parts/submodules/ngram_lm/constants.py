"""Constants shared by the n-gram LM tools."""

# Token-level LMs spell token id `i` as the character chr(i + DEFAULT_TOKEN_OFFSET), NeMo's convention
# (nemo.collections.asr.parts.submodules.ngram_lm.constants in NeMo 3.0.0).
DEFAULT_TOKEN_OFFSET = 100

# Ids of the ARPA special words inside the n-gram tables (real tokens are >= 0).
BOS_ID = -1
EOS_ID = -2
UNK_ID = -3
SPECIAL_WORDS = {"<s>": BOS_ID, "</s>": EOS_ID, "<unk>": UNK_ID}

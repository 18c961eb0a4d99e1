"""AAYNBaseConfig: the seed's dataclass example, and NeMo's fields and defaults."""

import dataclasses

from omegaconf import MISSING, OmegaConf


def test_seed_block_runs_as_written():
    from nemo.collections.nlp.models.machine_translation.mt_enc_dec_config import AAYNBaseConfig

    cfg = AAYNBaseConfig()

    # modify the number of layers in the encoder
    cfg.encoder.num_layers = 8

    # modify the training batch size
    cfg.train_ds.tokens_in_batch = 8192

    conf = OmegaConf.structured(cfg)
    assert conf.encoder.num_layers == 8 and conf.decoder.num_layers == 6
    assert conf.train_ds.tokens_in_batch == 8192 and conf.validation_ds.tokens_in_batch == 512
    assert AAYNBaseConfig().encoder.num_layers == 6  # instances don't share nested defaults


def test_defaults_match_nemo():
    from nemo.collections.nlp.models.machine_translation.mt_enc_dec_config import (
        AAYNBaseConfig,
        MTEncDecModelConfig,
        NeMoTransformerConfig,
        TranslationDataConfig,
    )

    cfg = AAYNBaseConfig()
    assert (cfg.encoder.hidden_size, cfg.encoder.inner_size, cfg.encoder.num_attention_heads) == (512, 2048, 8)
    assert (cfg.encoder.ffn_dropout, cfg.encoder.attn_score_dropout, cfg.encoder.attn_layer_dropout) == (0.1, 0.1, 0.1)
    assert cfg.encoder.mask_future is False and not hasattr(cfg.decoder, "mask_future")
    assert cfg.encoder.num_token_types == 2 and cfg.encoder.max_sequence_length == 512
    assert cfg.encoder_tokenizer.library == "sentencepiece" and cfg.encoder_tokenizer.tokenizer_model is None
    assert (cfg.beam_size, cfg.len_pen, cfg.max_generation_delta, cfg.label_smoothing) == (4, 0.0, 10, 0.0)
    assert (cfg.src_language, cfg.tgt_language, cfg.shared_tokenizer, cfg.shared_embeddings) == ("en", "en", True, False)
    assert cfg.head.num_layers == 1 and cfg.head.log_softmax is True
    assert cfg.train_ds.clean is True and cfg.train_ds.shuffle is True and cfg.validation_ds.clean is False
    assert cfg.train_ds.src_file_name == MISSING
    assert cfg.optim.name == "adam" and cfg.optim.lr == 1e-3 and tuple(cfg.optim.betas) == (0.9, 0.98)
    assert cfg.optim.sched.name == "InverseSquareRootAnnealing"
    assert TranslationDataConfig().tokens_in_batch == 512 and TranslationDataConfig().num_workers == 8
    assert NeMoTransformerConfig().hidden_act == "relu"
    assert {f.name for f in dataclasses.fields(MTEncDecModelConfig)} >= {
        "num_val_examples", "num_test_examples", "find_unused_parameters", "multilingual", "preproc_out_dir",
        "validate_input_ids", "encoder_tokenizer", "decoder_tokenizer", "encoder", "decoder", "head"}

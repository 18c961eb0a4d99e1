"""TTS neural modules (plain `nn.Module`s built from config `_target_`s)."""

"""Audio reading, augmentation, manifests, parsers and features."""

"""NLP datasets (imported lazily by the models that use them)."""

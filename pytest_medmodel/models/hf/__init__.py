"""In-process transformers models: loading checkpoints, encoding, prefix caching, generation, seq2seq."""

"""Execution: batched requests through the model, shards, the prediction cache, run statistics and the prompt log."""

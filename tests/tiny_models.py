"""Tiny random causal LMs built on the spot: a BPE tokenizer trained here, a small
config, ``save_pretrained``, and the plugin reloads them with ``from_pretrained``.

No hub access; milliseconds to build. They exercise the real loading path, the
chat template, padding and the KV-cache scoring, with weights nobody tuned.
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

CORPUS = [
    "Question: Which organ produces insulin? Answer: A",
    "Context: A randomised trial of aspirin. Question: Does it help? Answer yes, no or maybe. Answer: yes",
    "The pancreas, the liver, the kidney and the heart are organs. Answer: B",
    "Answer with the letter of the correct option. A. B. C. D. E. Answer: C Answer: D",
    "Metformin lowers glucose; aspirin inhibits platelets; warfarin is an anticoagulant.",
    "yes no maybe yes no maybe. The study found no difference in mortality.",
    "Patients with pneumonia received antibiotics and improved within 48 hours.",
] * 3


def build_tokenizer(chat: bool = True):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<s>", "</s>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        chat_template=CHAT_TEMPLATE if chat else None,
        padding_side="left",
    )


def build_tiny_llama(directory: Path, *, seed: int = 0, chat: bool = True, pad: bool = True) -> Path:
    """Save a ~0.5 M-parameter Llama with a freshly trained tokenizer to ``directory``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(chat=chat)
    if not pad:
        tokenizer.pad_token = None
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0 if pad else None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    # Random init is nearly uniform; scale the head so answers differ between items.
    with torch.no_grad():
        model.lm_head.weight.mul_(30.0)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_gpt2(directory: Path, *, seed: int = 1) -> Path:
    """A GPT-2 (learned absolute positions, no pad token): a second architecture."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = build_tokenizer(chat=False)
    tokenizer.pad_token = None
    config = GPT2Config(
        vocab_size=len(tokenizer), n_embd=64, n_layer=2, n_head=2, n_positions=512, bos_token_id=1, eos_token_id=2
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_t5(directory: Path, *, seed: int = 0) -> Path:
    """Save a tiny T5 (encoder-decoder) with the tokenizer trained here, as a seq2seq checkpoint."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = build_tokenizer(chat=False)
    tokenizer.padding_side = "right"
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=64,
        d_kv=16,
        d_ff=128,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=4,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config)
    with torch.no_grad():
        model.lm_head.weight.mul_(30.0)  # random init is nearly uniform: make answers differ between items
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory

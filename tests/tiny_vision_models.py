"""Tiny random vision-language models built on the spot, saved, and reloaded by the plugin.

Each builder trains a BPE tokenizer here (with the architecture's image tokens),
builds the processor from the transformers PIL image processor (no torchvision),
builds a model of a few hundred thousand parameters from a config, and saves all
of it to a folder, the way a real checkpoint ships. Vision towers are 32-48 px
with 8 px patches, so an image is 4-16 tokens and a forward pass takes
milliseconds. Two architectures start blind (Gemma 3's projection weight and
Mllama's cross-attention gates are zero at init) and are re-initialised so that
the image matters; every builder scales the LM head so answers differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS = [
    "Question: Which organ is shown in the image? Answer: A",
    "The chest X-ray shows a pneumothorax on the left side. Answer yes, no or maybe. Answer: yes",
    "The pancreas, the liver, the kidney and the heart are organs. Answer: B",
    "Answer with the letter of the correct option. A. B. C. D. E. Answer: C Answer: D",
    "Look at the picture. Is there a fracture? The scan shows no lesion.",
    "yes no maybe yes no maybe. The study found no difference in mortality.",
    "Patients with pneumonia received antibiotics and improved within 48 hours.",
] * 3
BASE_SPECIALS = ["<pad>", "<s>", "</s>", "<unk>", "<|user|>", "<|assistant|>", "<|system|>"]


def chat_template(image_text: str, bos: bool = False) -> str:
    """A template that takes str or list content and renders each image part as ``image_text``."""
    return (
        ("{{ bos_token }}" if bos else "") + "{% for m in messages %}<|{{ m['role'] }}|>"
        "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for p in m['content'] %}"
        "{% if p['type'] == 'image' %}" + image_text + "{% else %}{{ p['text'] }}{% endif %}"
        "{% endfor %}{% endif %}</s>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )


def build_tokenizer(specials: list[str], named: dict[str, str], *, bos: bool = False, template: str | None = None):
    """A byte-level BPE tokenizer with the architecture's special tokens; ``bos``: it adds BOS itself."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420, special_tokens=BASE_SPECIALS + specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS, trainer)
    if bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens=named,
        chat_template=template,
        padding_side="left",
    )


def _text(vocab: int, **extra: Any) -> dict[str, Any]:
    return dict(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        **extra,
    )


def _save(model: Any, processor: Any, directory: Path) -> Path:
    import torch

    with torch.no_grad():
        head = model.get_output_embeddings()
        if head is not None and not model.config.get_text_config().tie_word_embeddings:
            head.weight.mul_(20.0)  # random init is nearly uniform: make answers differ between items
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def build_llava(directory: Path, *, seed: int = 0) -> Path:
    import torch
    from transformers import (
        CLIPImageProcessorPil,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    template = chat_template("<image>\n")
    tok = build_tokenizer(["<image>"], {"image_token": "<image>"}, template=template)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        ),
        text_config=LlamaConfig(**_text(len(tok)), tie_word_embeddings=False),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        image_seq_length=16,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tok,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=template,
        image_token="<image>",
    )
    return _save(model, processor, directory)


QWEN_SPECIALS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]


def image_only(processor_class: type) -> type:
    """A Qwen-VL processor without its video processor (which needs torchvision on transformers 5)."""

    class ImageOnly(processor_class):  # type: ignore[misc,valid-type]
        @classmethod
        def get_attributes(cls) -> list[str]:
            return [a for a in super().get_attributes() if a != "video_processor"]

    return ImageOnly


def build_qwen2_vl(directory: Path, *, seed: int = 0, version: str = "2") -> Path:
    """Qwen2-VL (or, ``version="2.5"``, Qwen2.5-VL): multimodal RoPE, images as patches with a grid."""
    import torch
    import transformers
    from transformers import Qwen2VLImageProcessorPil

    prefix = "Qwen2VL" if version == "2" else "Qwen2_5_VL"
    template = chat_template("<|vision_start|><|image_pad|><|vision_end|>")
    named = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"}
    tok = build_tokenizer(QWEN_SPECIALS, named, template=template)
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIALS}
    tower = {"depth": 2, "num_heads": 4, "patch_size": 8, "spatial_merge_size": 2}
    if version == "2":
        tower.update(embed_dim=32, hidden_size=64, mlp_ratio=2)
    else:
        tower.update(
            hidden_size=32, out_hidden_size=64, intermediate_size=64, window_size=16, fullatt_block_indexes=[1]
        )
    config = getattr(transformers, f"{prefix}Config")(
        vision_config=tower,
        text_config={
            **_text(len(tok)),
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "tie_word_embeddings": False,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = getattr(transformers, f"{prefix}ForConditionalGeneration")(config)
    images = Qwen2VLImageProcessorPil(min_pixels=16 * 16, max_pixels=48 * 48, patch_size=8, merge_size=2)
    processor_class = getattr(transformers, f"{prefix}Processor")
    processor = image_only(processor_class)(image_processor=images, tokenizer=tok, chat_template=template)
    _save(model, processor, directory)
    # As a real checkpoint: the stock class name, and a video config that AutoProcessor would try to load.
    config_file = directory / "processor_config.json"
    saved = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**saved, "processor_class": processor_class.__name__}, indent=2))
    video = {"video_processor_type": "Qwen2VLVideoProcessor", "processor_class": processor_class.__name__}
    (directory / "video_preprocessor_config.json").write_text(json.dumps(video))
    return directory


def build_qwen2_5_vl(directory: Path, *, seed: int = 0) -> Path:
    return build_qwen2_vl(directory, seed=seed, version="2.5")


def build_idefics3(directory: Path, *, seed: int = 0) -> Path:
    import torch
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
    )

    grid = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]
    specials = ["<image>", "<fake_token_around_image>", "<global-img>", "<end_of_utterance>", *grid]
    template = chat_template("<image>")
    tok = build_tokenizer(specials, {"image_token": "<image>"}, template=template)
    config = Idefics3Config(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        text_config=dict(_text(len(tok)), model_type="llama", tie_word_embeddings=False),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        scale_factor=2,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config)
    images = Idefics3ImageProcessorPil(
        size={"longest_edge": 64}, max_image_size={"longest_edge": 32}, do_image_splitting=True
    )
    processor = Idefics3Processor(image_processor=images, tokenizer=tok, image_seq_len=4, chat_template=template)
    return _save(model, processor, directory)


def build_gemma3(directory: Path, *, seed: int = 0, sliding_window: int = 512) -> Path:
    """Gemma 3 with a BOS-adding tokenizer and a template that starts with BOS (the double-BOS trap)."""
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessorPil, Gemma3Processor

    specials = ["<start_of_image>", "<end_of_image>", "<image_soft_token>"]
    named = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    template = chat_template("<start_of_image>", bos=True)
    tok = build_tokenizer(specials, named, bos=True, template=template)
    config = Gemma3Config(
        text_config=dict(_text(len(tok)), head_dim=16, sliding_window=sliding_window, tie_word_embeddings=True),
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        mm_tokens_per_image=4,
        boi_token_index=tok.convert_tokens_to_ids("<start_of_image>"),
        eoi_token_index=tok.convert_tokens_to_ids("<end_of_image>"),
        image_token_index=tok.convert_tokens_to_ids("<image_soft_token>"),
    )
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    with torch.no_grad():  # zero at init: a fresh Gemma 3 cannot see
        torch.nn.init.normal_(model.model.multi_modal_projector.mm_input_projection_weight, std=0.5)
        model.model.language_model.embed_tokens.weight.mul_(20.0)  # tied head: answers differ
    images = Gemma3ImageProcessorPil(size={"height": 32, "width": 32})
    processor = Gemma3Processor(image_processor=images, tokenizer=tok, image_seq_length=4, chat_template=template)
    return _save(model, processor, directory)


def build_paligemma(directory: Path, *, seed: int = 0) -> Path:
    """PaliGemma: its processor adds 1,152 location/segmentation tokens, so the vocabulary is sized after it."""
    import torch
    from transformers import (
        GemmaConfig,
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessorPil,
        SiglipVisionConfig,
    )

    tok = build_tokenizer(["<image>"], {"image_token": "<image>"})
    images = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    images.image_seq_length = 16
    processor = PaliGemmaProcessor(image_processor=images, tokenizer=tok)
    config = PaliGemmaConfig(
        vision_config=SiglipVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
            projection_dim=64,
        ),
        text_config=GemmaConfig(**_text(len(tok)), head_dim=16, tie_word_embeddings=False),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        projection_dim=64,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = PaliGemmaForConditionalGeneration(config)
    return _save(model, processor, directory)


def build_mllama(directory: Path, *, seed: int = 0) -> Path:
    """Llama 3.2 Vision (cross-attention): its gates start at zero (blind) and are opened here."""
    import torch
    from transformers import MllamaConfig, MllamaForConditionalGeneration, MllamaImageProcessorPil, MllamaProcessor

    template = chat_template("<|image|>", bos=True)
    tok = build_tokenizer(["<|image|>"], {"image_token": "<|image|>"}, bos=True, template=template)
    config = MllamaConfig(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_global_layers": 1,
            "attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
            "max_num_tiles": 4,
            "intermediate_layers_indices": [0],
            "vision_output_dim": 64,
        },
        text_config=dict(_text(len(tok)), num_hidden_layers=3, cross_attention_layers=[1], tie_word_embeddings=False),
        image_token_index=tok.convert_tokens_to_ids("<|image|>"),
    )
    torch.manual_seed(seed)
    model = MllamaForConditionalGeneration(config)
    with torch.no_grad():  # zero at init: a fresh Mllama cannot see
        for name, param in model.named_parameters():
            if "gate" in name and param.numel() <= 4:
                torch.nn.init.constant_(param, 1.0)
    images = MllamaImageProcessorPil(size={"height": 32, "width": 32}, max_image_tiles=4)
    processor = MllamaProcessor(image_processor=images, tokenizer=tok, chat_template=template)
    return _save(model, processor, directory)

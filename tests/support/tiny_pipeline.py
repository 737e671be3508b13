"""A tiny, randomly initialised Stable Diffusion pipeline, built from config alone.

No download, no hub: the tokenizer's vocabulary is the byte-level alphabet (each byte alone
and as a word end, plus the two special tokens: 514 ids, no merges), and the UNet, VAE and
CLIP text encoder are small enough to make a 64×64 image in a fraction of a second on a CPU.
Weights come from a seeded generator, so the same seed always gives the same model.

``save_tiny_pipeline(path)`` writes it in the diffusers folder layout (``model_index.json``
and one folder per component), the way a user would hand the engine real weights.

Needs the ``local`` extra (torch, diffusers, transformers); import it only after checking.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SIZE = 64  # the pipeline's default image side
BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
MAX_TOKENS = 77


def _vocab() -> dict[str, int]:
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = sorted(ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    vocab.update({f"{ch}</w>": len(alphabet) + i for i, ch in enumerate(alphabet)})
    vocab[BOS] = len(vocab)
    vocab[EOS] = len(vocab)
    return vocab


def _write_tokenizer(folder: Path) -> int:
    """Write CLIP tokenizer files (vocab.json, merges.txt, configs); returns the vocab size."""
    vocab = _vocab()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MAX_TOKENS,
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": EOS,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return len(vocab)


def build_tiny_pipeline(folder: Path, seed: int = 0) -> Any:
    """Build the tiny pipeline (weights from ``seed``); the tokenizer is written to
    ``folder / "tokenizer"`` since CLIPTokenizer loads from files."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab_size = _write_tokenizer(folder / "tokenizer")
    tokenizer = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
    vocab = tokenizer.get_vocab()

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            sample_size=SIZE // 4,
            in_channels=4,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=(16, 32),
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=4,
            norm_num_groups=8,
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 3,
            up_block_types=("UpDecoderBlock2D",) * 3,
            block_out_channels=(8, 16, 16),
            latent_channels=4,
            layers_per_block=1,
            norm_num_groups=8,
            sample_size=SIZE,
        )
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=vocab_size,
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=MAX_TOKENS,
                bos_token_id=vocab[BOS],
                eos_token_id=vocab[EOS],
                pad_token_id=vocab[EOS],
            )
        )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def save_tiny_pipeline(folder: Path, seed: int = 0) -> Path:
    """Build the tiny pipeline and save it under ``folder`` (diffusers layout)."""
    pipe = build_tiny_pipeline(folder, seed)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder

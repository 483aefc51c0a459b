"""A look inside: how three tokenizers cut one sentence, and where one layer's attention goes.

WordPiece (BERT) keeps whole words it knows and cuts the rest into pieces marked `##`; Stage 2's word
tokenizer has no pieces, so a word it did not see often enough is `<unk>`; byte-level BPE (GPT-2's,
Stage 2's other tokenizer) always has pieces but learns them from far less text here than WordPiece's
vocabulary was built on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from common.lm.bpe import BPETokenizer
from common.lm.tokenizers import WordTokenizer
from LLMind.model import SentenceClassifier

BPE_VOCAB = 2000  # Stage 2's default vocabulary size for its BPE tokenizer
WORD_MIN_FREQ = 2  # Stage 2's words: seen at least twice in training, else <unk>


def tokenizer_table(sentence: str, wordpiece_tokens: Sequence[str], training_texts: Sequence[str]) -> str:
    """A Markdown table of the sentence's tokens under WordPiece and Stage 2's two tokenizers, the latter
    two fitted on the training sentences."""
    text = "\n".join(training_texts)
    words = WordTokenizer.fit(text, min_freq=WORD_MIN_FREQ, lowercase=True)
    bpe = BPETokenizer.fit(text, vocab_size=BPE_VOCAB)
    rows = {
        "WordPiece (MiniLM, 30,522 pieces)": list(wordpiece_tokens),
        f"words (Stage 2, seen >= {WORD_MIN_FREQ} times in training, {words.vocab_size:,} words)":
            [words.token_text(i) for i in words.encode(sentence)],
        f"byte-level BPE (Stage 2, {BPE_VOCAB:,} tokens fitted on the training sentences)":
            [repr(bpe.token_text(i))[1:-1] for i in bpe.encode(sentence)],
    }
    lines = [f"Sentence: {sentence}", "", "| tokenizer | tokens | pieces |", "|---|---|---|"]
    for name, tokens in rows.items():
        shown = " · ".join(token.replace("|", "\\|") for token in tokens)
        lines.append(f"| {name} | {len(tokens)} | {shown} |")
    return "\n".join(lines) + "\n"


@torch.inference_mode()
def attention_map(model: SentenceClassifier, ids: torch.Tensor, layer: int) -> np.ndarray:
    """Attention weights of `layer` over one sentence's ids (tokens,), averaged over heads:
    (tokens, tokens)."""
    model.eval()
    inputs, mask = ids[None, :], torch.ones(1, len(ids), dtype=torch.long)
    hidden = model.bert.embeddings(inputs)
    weights = model.bert.run_layers(hidden, mask, 0, layer + 1, attention_of=layer)[1]
    return weights[0].mean(dim=0).numpy()  # (heads, tokens, tokens) -> (tokens, tokens)

"""Build tiny causal LMs and tokenizers locally, so no test needs the network.

`make_tiny_model(folder)` trains a byte-level BPE tokenizer on a few sentences, builds a
2-layer Llama from a config with a fixed seed, and saves both where
`AutoModelForCausalLM.from_pretrained(folder)` / `AutoTokenizer.from_pretrained(folder)` load them.
"""

from __future__ import annotations

from pathlib import Path

SENTENCES = [
    "Once upon a time there was a little fox who lived in the woods.",
    "The princess walked to the castle and opened the old wooden door.",
    "Every morning the baker made bread, cakes and sweet buns for the town.",
    "The wind blew over the hills, and the children ran home before the rain.",
    "A clever crow found a jug of water and dropped stones into it.",
    "Write a formal rewrite: hey can u send the file -> Could you please send the file?",
    "Headline: City opens new library. Product: A warm wool scarf for cold days.",
]

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def train_tokenizer(vocab_size: int = 320, chat: bool = False):
    """A byte-level BPE fast tokenizer with <s>, </s>, <unk>, <pad> special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(SENTENCES * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def make_tiny_model(folder: Path, *, chat: bool = False, seed: int = 0, window: int = 256) -> Path:
    """Save a tiny random Llama (about 100k parameters) and its tokenizer to `folder`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer(chat=chat)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=window,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def greedy_ids(loaded, ids: list[int], max_new_tokens: int) -> list[int]:
    """Plain `model.generate` greedy output ids (prompt included): the reference for our streams."""
    import torch

    input_ids = torch.tensor([ids])
    with torch.inference_mode():
        out = loaded.model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            do_sample=False,
            max_new_tokens=max_new_tokens,
            repetition_penalty=1.0,
            pad_token_id=loaded.tokenizer.pad_token_id,
        )
    return out[0].tolist()


def full_greedy_text(loaded, document: str, max_new_tokens: int) -> str:
    """Prompt and greedy continuation decoded together, the way a reader sees them joined."""
    ids = greedy_ids(loaded, loaded.tokenizer(document)["input_ids"], max_new_tokens)
    return loaded.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

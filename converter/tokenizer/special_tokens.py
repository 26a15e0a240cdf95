"""Special token ids, BOS/EOS insertion and the chat template, from a model's config files.

The precedence follows what transformers does when it loads the tokenizer and what llama.cpp's
converter writes: ``tokenizer_config.json`` first, then ``config.json`` and
``generation_config.json`` for ids it does not name, and the ``tokenizer.json``
post-processor only where ``tokenizer_config.json`` says nothing about adding BOS/EOS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from converter.tokenizer.files import TokenizerFiles

#: Added tokens that some models fail to mark ``special`` although they are control tokens
#: (Command-R, DeepSeek-Coder, Gemma); llama.cpp's converter treats them as control too.
CONTROL_LOOKING_TOKENS: frozenset[str] = frozenset({"<pad>", "<mask>", "<2mass>", "[@BOS@]"})
CONTROL_LOOKING_DELIMITERS: tuple[tuple[str, str], ...] = (
    ("<|", "|>"),  # <|im_start|>, <|eot_id|> …
    ("<｜", "｜>"),  # DeepSeek's full-width bars
    ("<unused", ">"),  # Gemma's reserved tokens
)

#: End-of-turn markers of chat models, written as ``tokenizer.ggml.eot_token_id``.
END_OF_TURN_TOKENS: tuple[str, ...] = (
    "<|eot_id|>",  # Llama 3
    "<|im_end|>",  # ChatML: Qwen, SmolLM, Hermes
    "<|end|>",  # Phi-3
    "<end_of_turn>",  # Gemma
    "<|END_OF_TURN_TOKEN|>",  # Command-R
)
#: End-of-message markers (tool calls that expect an answer), ``tokenizer.ggml.eom_token_id``.
END_OF_MESSAGE_TOKENS: tuple[str, ...] = ("<|eom_id|>",)  # Llama 3.1

_SPECIAL_KINDS = ("bos", "eos", "unk", "pad")


def looks_like_control_token(text: str) -> bool:
    return text in CONTROL_LOOKING_TOKENS or any(
        text.startswith(start) and text.endswith(end) for start, end in CONTROL_LOOKING_DELIMITERS
    )


def token_content(entry: Any) -> str | None:
    """``"<s>"`` or ``{"content": "<s>", …}`` (also the 2023 ``{"__type": "AddedToken"}``)."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and isinstance(entry.get("content"), str):
        return entry["content"]
    return None


@dataclass(frozen=True, slots=True)
class SpecialTokens:
    ids: Mapping[str, int]  # "bos", "eos", "unk", "pad", "eot", "eom"
    add_bos: bool | None
    add_eos: bool | None
    chat_template: str | None


def _template_processors(tokenizer_json: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    post = (tokenizer_json or {}).get("post_processor")
    if not isinstance(post, dict):
        return []
    children = post.get("processors", [post])
    return (
        [child for child in children if isinstance(child, dict)]
        if isinstance(children, list)
        else []
    )


def _template_special(processor: Mapping[str, Any], item: Any) -> tuple[str, int | None] | None:
    """The (name, id) of a ``{"SpecialToken": …}`` template item, ``None`` for a sequence."""
    if not isinstance(item, dict) or "SpecialToken" not in item:
        return None
    name = item["SpecialToken"].get("id")
    ids = (processor.get("special_tokens") or {}).get(name, {}).get("ids") or [None]
    return name, ids[0] if isinstance(ids[0], int) else None


def _post_processor_adds(
    tokenizer_json: Mapping[str, Any] | None,
) -> dict[str, tuple[bool, int | None]]:
    """From the post-processor: ``{"bos"|"eos": (added?, id of the token it adds)}``."""
    found: dict[str, tuple[bool, int | None]] = {}
    for processor in _template_processors(tokenizer_json):
        kind = processor.get("type")
        if kind == "ByteLevel":
            found.setdefault("bos", (False, None))
            found.setdefault("eos", (False, None))
        elif kind == "RobertaProcessing":
            found["bos"] = (True, None)
            found["eos"] = (True, None)
        elif kind == "TemplateProcessing":
            single = processor.get("single") or []
            first = _template_special(processor, single[0]) if single else None
            last = _template_special(processor, single[-1]) if len(single) > 1 else None
            found["bos"] = (first is not None, first[1] if first else None)
            found["eos"] = (last is not None, last[1] if last else None)
    return found


def _chat_template(files: TokenizerFiles) -> str | None:
    template = files.tokenizer_config.get("chat_template")
    if template is None:
        template = files.chat_template_jinja
    if template is None and files.chat_template_json is not None:
        template = files.chat_template_json.get("chat_template")
    if isinstance(template, list):
        named = {
            entry.get("name"): entry.get("template")
            for entry in template
            if isinstance(entry, dict)
        }
        template = named.get("default", next(iter(named.values()), None))
    return template if isinstance(template, str) else None


def _first_int(value: Any) -> int | None:
    if isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_special_tokens(
    files: TokenizerFiles, tokens: Sequence[str], added: Mapping[str, int]
) -> SpecialTokens:
    """Resolve special ids against the final token list (``added`` maps added-token text to id)."""
    vocab_size = len(tokens)
    first_id: dict[str, int] = {}
    for token_id, text in enumerate(tokens):
        first_id.setdefault(text, token_id)

    def lookup(text: str | None) -> int | None:
        if text is None:
            return None
        return added[text] if text in added else first_id.get(text)

    ids: dict[str, int] = {}

    def offer(kind: str, token_id: int | None) -> None:
        if token_id is not None and kind not in ids and 0 <= token_id < vocab_size:
            ids[kind] = token_id

    config = files.tokenizer_config
    for kind in _SPECIAL_KINDS:
        offer(kind, lookup(token_content(config.get(f"{kind}_token"))))
    # A multimodal checkpoint keeps the text model's ids in its text_config.
    text_config = files.config.get("text_config")
    for source in (files.config, text_config if isinstance(text_config, dict) else {}):
        for kind in _SPECIAL_KINDS:
            offer(kind, _first_int(source.get(f"{kind}_token_id")))
    offer("eos", _first_int(files.generation_config.get("eos_token_id")))
    offer("bos", _first_int(files.generation_config.get("bos_token_id")))

    from_post_processor = _post_processor_adds(files.tokenizer_json)
    add: dict[str, bool | None] = {}
    for kind in ("bos", "eos"):
        configured = config.get(f"add_{kind}_token")
        if isinstance(configured, bool):
            add[kind] = configured
        elif kind in from_post_processor:
            add[kind] = from_post_processor[kind][0]
        else:
            add[kind] = None
        offer(kind, from_post_processor.get(kind, (False, None))[1])

    for kind, names in (("eot", END_OF_TURN_TOKENS), ("eom", END_OF_MESSAGE_TOKENS)):
        for name in names:
            offer(kind, added.get(name))

    return SpecialTokens(
        ids=ids, add_bos=add["bos"], add_eos=add["eos"], chat_template=_chat_template(files)
    )

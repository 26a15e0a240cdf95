"""Which llama.cpp pre-tokenizer (``tokenizer.ggml.pre``) a byte-level BPE tokenizer needs.

llama.cpp does not run the Hugging Face pre-tokenizer; it re-implements a fixed set of them and
picks one by the name stored in the GGUF. A wrong or missing name still loads and tokenizes,
just differently from the original model, so recognition must be exact or refuse.

llama.cpp's own converter hashes the ids the tokenizer gives for a check string, which needs
the ``tokenizers`` library and knows only the exact vocabularies it has seen. We recognise the
pre-tokenizer itself instead: the pipeline declared in ``tokenizer.json`` (its Split regexes,
Digits and ByteLevel steps), plus the few settings that make llama.cpp treat one pipeline
under different names. This needs no library and also covers fine-tunes and re-uploads.
``KNOWN_PRE_TOKENIZERS`` is the table; each entry names the model family and the llama.cpp
check hash of its reference model (tests use those hashes to confirm the entries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from converter.tokenizer.steps import (
    ByteLevel,
    Digits,
    PipelineError,
    Punctuation,
    Split,
    Step,
    describe_pipeline,
    parse_pipeline,
)

# Split regexes exactly as the models' tokenizer.json files declare them.
_LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN35_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
    r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_TEKKEN_REGEX = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_O200K_REGEX = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_DEEPSEEK_LETTERS_REGEX = (  # \u escapes: these letters change under Unicode normalization
    "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ"
    "-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1f7dᾀ-ᾴᾶ"
    "-ᾼ\u1fbeῂ-ῄῆ-ῌῐ-\u1fd3ῖ-\u1fdbῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ"
    "\u212a-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗ"
    "Ａ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+"
)
_DEEPSEEK_CJK_REGEX = "[一-龥ࠀ-一가-퟿]+"
_DEEPSEEK3_MAIN_REGEX = (
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"
    r"|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"
    r"| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_BYTES = ByteLevel(use_regex=False)


@dataclass(frozen=True, slots=True)
class KnownPreTokenizer:
    """One ``tokenizer.ggml.pre`` value and the tokenizer.json pipeline that calls for it.

    ``ignore_merges``/``clean_up_spaces``/``nfc`` are ``None`` when any value matches; they are
    set only where llama.cpp gives one pipeline different names (and different settings).
    """

    name: str
    family: str
    steps: tuple[Step, ...]
    llama_cpp_hashes: tuple[str, ...] = ()
    ignore_merges: bool | None = None
    clean_up_spaces: bool | None = None
    nfc: bool | None = None


#: Order matters only among entries with the same steps: the first whose settings match wins.
KNOWN_PRE_TOKENIZERS: tuple[KnownPreTokenizer, ...] = (
    KnownPreTokenizer(
        "llama-bpe",
        "Llama 3, 3.1, 3.2, 3.3 (and Falcon 3, Pixtral-style Llama-3 vocabularies)",
        (Split(_LLAMA3_REGEX), _BYTES),
        ("0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5",),
        ignore_merges=True,
    ),
    KnownPreTokenizer(
        "smaug-bpe",
        "Llama-3 split rule without ignore_merges (Smaug-Llama-3, cl100k-style vocabularies)",
        (Split(_LLAMA3_REGEX), _BYTES),
        ("c136ed14d01c2745d4f60a9596ae66800e2b61fa45643e72436041855ad4089d",),
        ignore_merges=False,
    ),
    KnownPreTokenizer(
        "qwen2",
        "Qwen 1.5, 2, 2.5, 3 and the DeepSeek-R1 Qwen distills",
        (Split(_QWEN2_REGEX), _BYTES),
        (
            "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea",
            "d4540891389ea895b53b399da6ac824becc30f2fba0e9ddbb98f92e55ca0e97c",
        ),
    ),
    KnownPreTokenizer(
        "qwen35",
        "Qwen 3.5",
        (Split(_QWEN35_REGEX), _BYTES),
        ("d30d75d9059f1aa2c19359de71047b3ae408c70875e8a3ccf8c5fba56c9d8af4",),
    ),
    KnownPreTokenizer(
        "gpt-2",
        "GPT-2, Phi-1/Phi-2, GPT-NeoX/Pythia, OLMo, MPT (the original GPT-2 split rule)",
        (ByteLevel(use_regex=True),),
        (
            "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454",
            "fcace8b9cac38ce847670c970cd5892031a753a1ef381abd1d9af00f713da085",
        ),
    ),
    KnownPreTokenizer(
        "command-r",
        "Cohere Command-R (single digits, GPT-2 rule, NFC normalizer)",
        (Digits(individual=True), ByteLevel(use_regex=True)),
        ("9c2227e4dd922002fb81bde4fc02b0483ca4f12911410dee2255e4987644e3f8",),
        nfc=True,
    ),
    KnownPreTokenizer(
        "smollm",
        "SmolLM, SmolLM2, SmolLM3-style vocabularies (single digits, GPT-2 rule)",
        (Digits(individual=True), ByteLevel(use_regex=True)),
        ("855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249",),
        clean_up_spaces=False,
    ),
    KnownPreTokenizer(
        "starcoder",
        "StarCoder2, Refact (single digits, GPT-2 rule, spaces cleaned up when decoding)",
        (Digits(individual=True), ByteLevel(use_regex=True)),
        ("35d91631860c815f952d711435f48d356ebac988362536bed955d43bfa436e34",),
    ),
    KnownPreTokenizer(
        "tekken",
        "Mistral Nemo, Mistral Small 3 and other Tekken vocabularies",
        (Split(_TEKKEN_REGEX), _BYTES),
        ("63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e",),
    ),
    KnownPreTokenizer(
        "gpt-4o",
        "GPT-4o (o200k) split rule, also Llama 4",
        (Split(_O200K_REGEX), _BYTES),
        (
            "ccc2ef013c104be7bae2965776d611e1d7a8a2a9c547dd93a682c9a9fc80352e",
            "d353350c764d8c3b39c763113960e4fb4919bea5fbf208a0e3b22e8469dc7406",
        ),
    ),
    KnownPreTokenizer(
        "deepseek-llm",
        "DeepSeek LLM 7B/67B",
        (
            Split("[\r\n]"),
            Split(_DEEPSEEK_LETTERS_REGEX),
            Split("\\s?[!-/:-~！-／：-～‘-‟　-。]+"),
            Split("\\s+$"),
            Split(_DEEPSEEK_CJK_REGEX),
            Digits(individual=True),
            _BYTES,
        ),
        ("049ecf7629871e3041641907f3de7c733e4dbfdc736f57d882ba0b0845599754",),
    ),
    KnownPreTokenizer(
        "deepseek-coder",
        "DeepSeek Coder 1.3B/6.7B/33B",
        (
            Split("[\r\n]"),
            Split("\\s?\\p{L}+"),
            Split("\\s?\\p{P}+"),
            Split(_DEEPSEEK_CJK_REGEX),
            Digits(individual=True),
            _BYTES,
        ),
        ("347715f544604f9118bb75ed199f68779f423cabb20db6de6f31b908d04d7821",),
    ),
    KnownPreTokenizer(
        "deepseek-v3",
        "DeepSeek V3, R1",
        (
            Split("\\p{N}{1,3}"),
            Split("[一-龥぀-ゟ゠-ヿ]+"),
            Split(_DEEPSEEK3_MAIN_REGEX),
            _BYTES,
        ),
        ("877081d19cf6996e2c4ff0e1236341e9b7bde288f5311a56a937f0afbbb3aeb5",),
    ),
    KnownPreTokenizer(
        "falcon",
        "Falcon 7B/40B/180B",
        (
            Punctuation("Contiguous"),
            ByteLevel(use_regex=True),
            Digits(individual=False),
            Split("[0-9][0-9][0-9]"),
        ),
        ("8aeee3860c56296a157a1fe2fad249ec40aa59b1bb5709f4ade11c4e6fe652ed",),
    ),
)


def _normalizer_is_nfc(normalizer: Any) -> bool:
    if not isinstance(normalizer, dict):
        return False
    if normalizer.get("type") == "NFC":
        return True
    children = normalizer.get("normalizers")
    return isinstance(children, list) and any(_normalizer_is_nfc(child) for child in children)


def _settings_match(entry: KnownPreTokenizer, tokenizer_json: dict, tokenizer_config: dict) -> bool:
    model = tokenizer_json.get("model") or {}
    actual = {
        "ignore_merges": bool(model.get("ignore_merges", False)),
        "clean_up_spaces": bool(tokenizer_config.get("clean_up_tokenization_spaces", True)),
        "nfc": _normalizer_is_nfc(tokenizer_json.get("normalizer")),
    }
    return all(
        getattr(entry, setting) is None or getattr(entry, setting) == value
        for setting, value in actual.items()
    )


class UnknownPreTokenizer(ValueError):
    """The pipeline is well formed but llama.cpp has no pre-tokenizer for it."""


def recognise_pre_tokenizer(tokenizer_json: dict, tokenizer_config: dict) -> KnownPreTokenizer:
    """The table entry for this tokenizer.json's pre-tokenizer.

    Raises :class:`PipelineError` for a pipeline llama.cpp cannot run at all and
    :class:`UnknownPreTokenizer` for one that is not in the table; both messages describe the
    pipeline so that a person can see what was found.
    """
    steps = parse_pipeline(tokenizer_json.get("pre_tokenizer"))
    same_steps = [entry for entry in KNOWN_PRE_TOKENIZERS if entry.steps == steps]
    for entry in same_steps:
        if _settings_match(entry, tokenizer_json, tokenizer_config):
            return entry
    raise UnknownPreTokenizer(
        f"its pre-tokenizer ({describe_pipeline(steps)}) is not one that llama.cpp implements, "
        "so the converted model would split text differently from the original; "
        "this model family needs support added to Quantdesk's pre-tokenizer table"
    )


__all__ = [
    "KNOWN_PRE_TOKENIZERS",
    "KnownPreTokenizer",
    "PipelineError",
    "UnknownPreTokenizer",
    "recognise_pre_tokenizer",
]

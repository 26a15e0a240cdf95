"""Read a SentencePiece ``tokenizer.model`` without the ``sentencepiece`` library.

The file is a protobuf ``ModelProto``. We need only a handful of its fields (the pieces with
their scores and types, the model type, and whether a space is prepended to the text), so a
small reader of the protobuf wire format is enough and keeps ``sentencepiece`` out of the
runtime dependencies. Field numbers follow sentencepiece's ``sentencepiece_model.proto``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from converter.errors import TokenizerError

# Protobuf wire types.
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5

# ModelProto fields.
_MODEL_PIECES, _MODEL_TRAINER_SPEC, _MODEL_NORMALIZER_SPEC = 1, 2, 3
# ModelProto.SentencePiece fields.
_PIECE_TEXT, _PIECE_SCORE, _PIECE_TYPE = 1, 2, 3
# TrainerSpec fields.
_TRAINER_MODEL_TYPE, _TRAINER_BYTE_FALLBACK = 3, 35
# NormalizerSpec fields.
_NORMALIZER_ADD_DUMMY_PREFIX = 3


class PieceType(IntEnum):
    """``SentencePiece.Type``; the numbers are the same as GGUF's token types."""

    NORMAL = 1
    UNKNOWN = 2
    CONTROL = 3
    USER_DEFINED = 4
    UNUSED = 5
    BYTE = 6


class ModelType(IntEnum):
    """``TrainerSpec.ModelType``."""

    UNIGRAM = 1
    BPE = 2
    WORD = 3
    CHAR = 4


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    score: float
    type: PieceType


@dataclass(frozen=True, slots=True)
class SentencePieceModel:
    """The parts of a ``tokenizer.model`` that a GGUF vocabulary needs."""

    pieces: tuple[Piece, ...]
    model_type: ModelType
    byte_fallback: bool
    add_dummy_prefix: bool


class _WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise _WireError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise _WireError("varint longer than 10 bytes")


def _fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yield ``(field_number, wire_type, value)``; value is an int or the raw bytes."""
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise _WireError("field number 0")
        if wire_type == _VARINT:
            value, pos = _read_varint(data, pos)
            yield number, wire_type, value
        elif wire_type == _LENGTH_DELIMITED:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise _WireError("truncated length-delimited field")
            yield number, wire_type, data[pos : pos + length]
            pos += length
        elif wire_type == _FIXED32:
            if pos + 4 > len(data):
                raise _WireError("truncated 32-bit field")
            yield number, wire_type, data[pos : pos + 4]
            pos += 4
        elif wire_type == _FIXED64:
            if pos + 8 > len(data):
                raise _WireError("truncated 64-bit field")
            yield number, wire_type, data[pos : pos + 8]
            pos += 8
        else:
            raise _WireError(f"unsupported wire type {wire_type}")


def _parse_piece(data: bytes) -> Piece:
    text: str | None = None
    score = 0.0
    piece_type = PieceType.NORMAL
    for number, wire_type, value in _fields(data):
        if number == _PIECE_TEXT and wire_type == _LENGTH_DELIMITED:
            assert isinstance(value, bytes)
            text = value.decode("utf-8")
        elif number == _PIECE_SCORE and wire_type == _FIXED32:
            assert isinstance(value, bytes)
            score = struct.unpack("<f", value)[0]
        elif number == _PIECE_TYPE and wire_type == _VARINT:
            assert isinstance(value, int)
            try:
                piece_type = PieceType(value)
            except ValueError:
                raise _WireError(f"unknown piece type {value}") from None
    if text is None:
        raise _WireError("a piece without text")
    return Piece(text, score, piece_type)


def parse_sentencepiece_model(data: bytes) -> SentencePieceModel:
    """Parse the bytes of a ``tokenizer.model``; raise ``ValueError`` if they are not one."""
    pieces: list[Piece] = []
    model_type = ModelType.UNIGRAM  # the proto's default
    byte_fallback = False
    add_dummy_prefix = True
    try:
        for number, wire_type, value in _fields(data):
            if wire_type != _LENGTH_DELIMITED:
                continue
            assert isinstance(value, bytes)
            if number == _MODEL_PIECES:
                pieces.append(_parse_piece(value))
            elif number == _MODEL_TRAINER_SPEC:
                for field, kind, setting in _fields(value):
                    if field == _TRAINER_MODEL_TYPE and kind == _VARINT:
                        model_type = ModelType(int(setting))
                    elif field == _TRAINER_BYTE_FALLBACK and kind == _VARINT:
                        byte_fallback = bool(setting)
            elif number == _MODEL_NORMALIZER_SPEC:
                for field, kind, setting in _fields(value):
                    if field == _NORMALIZER_ADD_DUMMY_PREFIX and kind == _VARINT:
                        add_dummy_prefix = bool(setting)
    except (_WireError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    except ValueError as exc:  # an unknown enum value
        raise ValueError(f"unexpected value: {exc}") from exc
    if not pieces:
        raise ValueError("it holds no pieces")
    return SentencePieceModel(tuple(pieces), model_type, byte_fallback, add_dummy_prefix)


def read_sentencepiece_model(path: Path) -> SentencePieceModel:
    """Read ``tokenizer.model``, turning any problem into a :class:`TokenizerError`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TokenizerError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    try:
        return parse_sentencepiece_model(data)
    except ValueError as exc:
        raise TokenizerError(
            f"{path.name} in {path.parent} is not a valid SentencePiece model ({exc}). "
            "The file may be damaged or incomplete: download it again."
        ) from exc

"""An uploaded subtitle file's bytes to text: a byte order mark, UTF-8, a chosen encoding, or a sure detection.

The order, so that nothing is guessed silently:

1. an encoding the user chose (``--encoding``, the Studio's Encoding field, the API's
   ``encoding``) is used as it is, and bytes it cannot read are refused with their line;
2. with ``auto``: a byte order mark says UTF-8, UTF-16 or UTF-32 (Notepad's "Unicode");
3. then UTF-8, as most files are;
4. then ``charset-normalizer`` weighs the legacy encodings subtitle files come in. Its
   answer is taken only when every other encoding that reads the file as plausible text
   reads it the same way, or reads it clearly worse; otherwise the file is refused with
   how it reads in each candidate, so the user can pick the right one by name.

Encodings are named as the WHATWG Encoding Standard (and so browsers) names them, and a
legacy name reads with the superset its files are written in (GB2312 with GB18030,
Shift_JIS with Windows-31J, EUC-KR with Windows-949, Big5 with Big5-HKSCS).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

from engines.errors import InputError

AUTO = "auto"
MAX_SUBTITLE_BYTES = 5 * 2**20
WHERE_TO_CHOOSE = "the Studio's Encoding field, the API's encoding parameter, --encoding on the command line"

# The choices the Studio offers (any other Python codec name is accepted too): (label, name).
ENCODING_CHOICES: tuple[tuple[str, str], ...] = (
    ("auto (UTF-8, else detected)", AUTO),
    ("UTF-8", "utf-8"),
    ("UTF-16 little-endian (no byte order mark)", "utf-16-le"),
    ("UTF-16 big-endian (no byte order mark)", "utf-16-be"),
    ("Western (windows-1252)", "windows-1252"),
    ("Central European (windows-1250)", "windows-1250"),
    ("Central European (iso-8859-2)", "iso-8859-2"),
    ("Cyrillic (windows-1251)", "windows-1251"),
    ("Cyrillic (koi8-r)", "koi8-r"),
    ("Greek (windows-1253)", "windows-1253"),
    ("Turkish (windows-1254)", "windows-1254"),
    ("Hebrew (windows-1255)", "windows-1255"),
    ("Arabic (windows-1256)", "windows-1256"),
    ("Baltic (windows-1257)", "windows-1257"),
    ("Vietnamese (windows-1258)", "windows-1258"),
    ("Thai (windows-874)", "windows-874"),
    ("Chinese, simplified (gb18030: also GB2312, GBK)", "gb18030"),
    ("Chinese, traditional (big5)", "big5"),
    ("Japanese (shift_jis)", "shift_jis"),
    ("Japanese (euc-jp)", "euc-jp"),
    ("Korean (euc-kr)", "euc-kr"),
)

# What detection weighs: the legacy encodings of the choices above (UTF-8 is tried first, by itself), the
# most common first: where several read the file the same way, the first of them names the reading.
_DETECTED = ("cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "iso8859_2",
             "koi8_r", "cp874", "gb18030", "big5", "cp932", "euc_jp", "cp949")
# A legacy name reads with the superset its files are written in (as browsers do).
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "shiftjis": "cp932", "sjis": "cp932", "xsjis": "cp932",
              "euckr": "cp949", "big5": "big5hkscs", "utf8": "utf-8-sig"}
# Python's codec names as the WHATWG Encoding Standard names them.
_NAMES = {"utf-8-sig": "utf-8", "cp932": "shift_jis", "cp949": "euc-kr", "big5hkscs": "big5", "cp874": "windows-874"}
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32 LE starts like UTF-16 LE
# A rival reading is set aside when it is clearly messier (charset-normalizer's chaos, 0..1) or, as messy,
# clearly less like any language (its coherence, 0..1). Closer than that, the file is refused as unclear.
_CHAOS_MARGIN = 0.04
_COHERENCE_MARGIN = 0.15
_SAMPLE_BYTES = 32 * 1024
_CANDIDATES_SHOWN = 4


@dataclass(frozen=True)
class DecodedText:
    text: str            # newlines as "\n", no byte order mark
    encoding: str        # the name a user would choose it by: utf-8, utf-16, windows-1252, gb18030...
    how: str             # "chosen", "byte order mark", "utf-8" or "detected"


def encoding_name(codec: str) -> str:
    """A Python codec name as users (and browsers) name it: cp1252 -> windows-1252, cp932 -> shift_jis."""
    name = codecs.lookup(codec).name
    if name in _NAMES:
        return _NAMES[name]
    return re.sub(r"^iso8859-", "iso-8859-", re.sub(r"^cp(125\d)$", r"windows-\1", name)).replace("_", "-")


def codec_for(name: str | None) -> str | None:
    """The Python codec that reads files in the encoding called ``name``; None for auto; ``InputError`` if unknown."""
    label = (name or AUTO).strip().lower()
    if label == AUTO:
        return None
    codec = _SUPERSETS.get(re.sub(r"[-_ ]", "", label), label)
    try:
        b"a".decode(codec, "ignore")  # LookupError for an unknown name, and for bytes-to-bytes codecs (base64...)
    except LookupError as exc:
        known = ", ".join(value for _, value in ENCODING_CHOICES)
        raise InputError(f"unknown encoding {name.strip()[:40]!r}: use one of {known}") from exc
    return codec


def decode_subtitles(data: bytes, encoding: str | None = AUTO) -> DecodedText:
    """The file's text, or ``InputError`` saying why it cannot be read and how to choose its encoding."""
    if len(data) > MAX_SUBTITLE_BYTES:
        raise InputError(f"subtitle file is {len(data) / 2**20:.1f} MB; the limit is {MAX_SUBTITLE_BYTES // 2**20} MB")
    codec = codec_for(encoding)
    if codec is not None:
        decoded = DecodedText(_strict(data, codec, encoding_name(codec)), encoding_name(codec), "chosen")
    elif (bom := next((c for mark, c in _BOMS if data.startswith(mark)), None)) is not None:
        decoded = DecodedText(_strict(data, bom, encoding_name(bom)), encoding_name(bom), "byte order mark")
    elif b"\x00" in data[:4096]:
        raise InputError("subtitle file is not text (binary data found): upload an .srt, .vtt, .ass/.ssa or .txt "
                         "file; if it is UTF-16 text without a byte order mark, choose utf-16-le or utf-16-be as "
                         f"its encoding ({WHERE_TO_CHOOSE})")
    else:
        try:
            decoded = DecodedText(data.decode("utf-8"), "utf-8", "utf-8")
        except UnicodeDecodeError:
            decoded = _detect(data)
    text = decoded.text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in text:
        raise InputError(f"subtitle file is not text (binary data found) when read as {decoded.encoding}")
    return DecodedText(text, decoded.encoding, decoded.how)


def _strict(data: bytes, codec: str, name: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(f"subtitle file is not valid {name} text: line {line} holds bytes {name} cannot read "
                         f"({data[exc.start:exc.end][:4].hex(' ')}); choose the file's encoding ({WHERE_TO_CHOOSE}), "
                         "or auto") from exc


def _sample(data: bytes) -> bytes:
    """The lines that are not plain ASCII (where encodings differ), up to a bound."""
    kept, size = [], 0
    for line in data.split(b"\n"):
        if not line.isascii():
            kept.append(line.rstrip(b"\r"))
            size += len(line) + 1
            if size >= _SAMPLE_BYTES:
                break
    return b"\n".join(kept)


def _detect(data: bytes) -> DecodedText:
    sample = _sample(data)
    # Five chunks that cover the whole sample (the library's default looks at 2.5 kB of it).
    matches = list(from_bytes(sample, cp_isolation=list(_DETECTED), steps=5, chunk_size=max(512, len(sample) // 5 + 1)))
    if not matches:
        raise InputError("subtitle file is neither UTF-8 nor a text encoding this app recognises; choose the "
                         f"file's encoding ({WHERE_TO_CHOOSE})")
    best = matches[0]
    readings = {str(best): best.encoding}   # each different reading of the file, by the first encoding giving it
    for match in matches[1:]:
        clearly_worse = (match.chaos >= best.chaos + _CHAOS_MARGIN
                         or (match.chaos >= best.chaos and best.coherence - match.coherence >= _COHERENCE_MARGIN))
        if not clearly_worse:
            readings.setdefault(str(match), match.encoding)
    if len(readings) > 1:
        raise InputError(_unclear(list(readings.values()), list(readings)))
    name = encoding_name(next((codec for codec in _DETECTED if _reads(sample, codec) == str(best)), best.encoding))
    return DecodedText(_strict(data, codec_for(name) or best.encoding, name), name, "detected")


def _reads(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def _unclear(encodings: list[str], readings: list[str]) -> str:
    """How the first line that differs reads in each candidate, so the right one can be picked by eye."""
    lines = [reading.split("\n") for reading in readings[:_CANDIDATES_SHOWN]]
    row = next((i for i, cut in enumerate(zip(*lines)) if len(set(cut)) > 1), 0)
    column = next((i for i, chars in enumerate(zip(*(rows[row] for rows in lines))) if len(set(chars)) > 1), 0)
    start = max(0, column - 20)
    shown = "; ".join(f"as {encoding_name(enc)}: {rows[row][start:start + 48].strip()!r}"
                      for enc, rows in zip(encodings, lines))
    return (f"subtitle file is not UTF-8 and its encoding is unclear: it reads differently {shown}; choose the "
            f"right one ({WHERE_TO_CHOOSE})")

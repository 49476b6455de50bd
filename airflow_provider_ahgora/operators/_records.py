"""Where push operators read their records from, and where they write what failed.

Records come as a list (literal or from an XCom) or as a path/URI of a ``.json`` (an array),
``.jsonl`` (one JSON value per line) or ``.csv`` (a header line; each row a record of strings, empty
cells left out) file. Files are *streamed*: read once, in chunks, and memory does not grow with
their size (``.json`` arrays are decoded one element at a time). A mapping with a ``"path"`` key
(what a TaskFlow task or
:class:`~airflow_provider_ahgora.operators.reckon.PontoWebReckonResultsOperator` returns) stands
for its path.

Files come from HR systems that do not all write UTF-8 or commas, so the bytes are decoded here
(not by ``open``) under rules that never guess wrong without saying so:

* **Encoding** (``encoding="auto"``, the default). A byte order mark decides (UTF-8, UTF-16 as
  Excel's "Unicode text" writes it, UTF-32); otherwise the file is read as UTF-8. If it is not valid
  UTF-8 and nothing before the first invalid byte was outside ASCII, it is read as Windows-1252
  (cp1252, a superset of Latin-1's letters), which is logged once; the rest must then look like
  Windows-1252: a byte that cp1252 does not define, a valid UTF-8 sequence (the file mixes
  encodings) or a DOS code page letter right after a letter (cp850's ``ç`` is cp1252's ``‡``)
  refuses the file. A file that mixes valid UTF-8 characters and invalid bytes is refused (corrupted
  or mixed: read either way it would garble names), and so is a NUL byte (UTF-16 without a byte
  order mark, or not text). An explicit codec name (``encoding="latin-1"``) is used as given, with
  a leading byte order mark dropped; ``"utf-16"`` and ``"utf-32"`` need the mark (else say
  ``"utf-16-le"``). ``.json`` files follow the same rules: JSON is UTF-8 by RFC 8259, but a
  Windows-1252 or UTF-16 (PowerShell's ``Out-File``) export is read rather than refused.
* **Delimiter** (``.csv``; ``delimiter=None``, the default). Sniffed from the header (its first
  non-blank line) among ``,`` ``;`` tab and ``|`` outside quotes: one of them is the delimiter;
  none means one column; several refuse the file. Every row must have as many cells as the header.

Every error is an :class:`~airflow_provider_ahgora.exceptions.AhgoraConfigError` that names the file
(without query string or password), the line (and for a decoding error the byte, its position in the
line and its offset in the file) and what to do. Records before the bad line have already been
yielded: callers that must send all or nothing read everything first, as the push operators do.

The failure report is JSON Lines, one ``{"record", "reason", "batch"}`` object per failed record,
written to a hidden temporary object next to its target and committed onto it
(:func:`~airflow_provider_ahgora.storage.commit`), so a reader never sees half a report.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_ahgora.exceptions import AhgoraConfigError
from airflow_provider_ahgora.storage import commit, partial_path, storage_path
from airflow_provider_ahgora.storage import default_report_path as default_report_path  # re-exported

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

__all__ = [
    "CSV_DELIMITERS",
    "RECORD_FORMATS",
    "FailureReport",
    "PlainStringTemplatesMixin",
    "check_read_options",
    "default_report_path",
    "describe_source",
    "iter_records",
    "read_report",
    "source_path",
]

log = logging.getLogger(__name__)

#: File suffixes a ``records`` path may have.
RECORD_FORMATS = (".json", ".jsonl", ".ndjson", ".csv")
#: The delimiters a CSV header is sniffed for, when ``delimiter`` is not given.
CSV_DELIMITERS = (",", ";", "\t", "|")
_CHUNK = 1 << 16
_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"
_DELIMITERS = ",]" + _WHITESPACE

#: Byte order marks, longest first (UTF-32 LE's starts with UTF-16 LE's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Codecs that need a byte order mark to know the byte order (Python would assume the machine's).
_ORDER_MARKS = {
    "utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
    "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
}
_NON_ASCII = re.compile(rb"[\x80-\xff]")
#: A well-formed UTF-8 multi-byte sequence (RFC 3629): in a Windows-1252 file, a sign of mixing.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
#: The start of a UTF-8 sequence cut by the end of a chunk (held back until the next chunk).
_UTF8_CUT = re.compile(rb"(?:[\xc2-\xf4]|[\xe0-\xf4][\x80-\xbf]|[\xf0-\xf4][\x80-\xbf]{2})\Z")
#: Where a UTF-8 sequence may start: ``L`` a lead byte, ``c`` a continuation byte (``bytes.translate``
#: and ``find`` scan a chunk many times faster than a regular expression; the expression confirms).
_UTF8_CLASSES = bytes(
    ord("c") if 0x80 <= b <= 0xBF else ord("L") if 0xC2 <= b <= 0xF4 else ord(".") for b in range(256)
)
#: A cp1252 sign that is a letter in DOS code page 850 (Ç é â ä å ç ê ë ï) right after an ASCII letter
#: (``a`` then ``s``): ``José`` in cp850 reads ``Jos‚`` in cp1252, ``GONÇALVES`` ``GON€ALVES``; no
#: Windows-1252 text has those signs right after a letter.
_DOS_SIGNS = frozenset(b"\x80\x82\x83\x84\x86\x87\x88\x89\x8b")
_ASCII_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DOS_CLASSES = bytes(
    ord("a") if b in _ASCII_LETTERS else ord("s") if b in _DOS_SIGNS else ord(".") for b in range(256)
)
_CSV_QUOTE = '"'


def _storage_path(target: Any) -> ObjectStoragePath:
    return storage_path(target)


def _report_path(target: Any) -> ObjectStoragePath:
    """The report's path: a target ending in ``/`` is a directory, the report is its ``failures.jsonl``."""
    return storage_path(target, directory_file="failures.jsonl")


#: Schemes whose user part is a credential (``https://TOKEN@host/...``, as some raw-file hosts take
#: a token): shown masked whole. In object storage URIs (``s3://aws_default@bucket/...``) the user part
#: names an Airflow connection, which is shown.
_CREDENTIAL_USERINFO_SCHEMES = frozenset({"http", "https", "ftp", "ftps", "sftp", "ssh", "webdav", "dav"})


def _shown(source: Any) -> str:
    """A path or URI as given, fit for a message: no query string or fragment, no password, no token."""
    text = str(source).strip()
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)(://)([^/?#]*)(.*)$", text, re.DOTALL)
    if match is None:
        return text
    scheme, sep, authority, rest = match.groups()
    rest = re.split(r"[?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        userinfo, host = authority.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        elif scheme.lower() in _CREDENTIAL_USERINFO_SCHEMES:
            userinfo = "***"
        authority = f"{userinfo}@{host}"
    return scheme + sep + authority + rest


def source_path(source: Any) -> Any:
    """The file a record source names (a path or URI, a path object, or a ``{"path": ...}`` mapping as
    an upstream task returns it), or ``None`` for records given inline."""
    if isinstance(source, Mapping) and "path" in source:
        return source["path"]
    if isinstance(source, (str, os.PathLike)) or hasattr(source, "protocol"):
        return source
    return None


def describe_source(source: Any) -> str:
    """A short description of a record source for log lines (never the records themselves)."""
    path = source_path(source)
    if path is not None:
        return _shown(path)
    if isinstance(source, (list, tuple)):
        return f"a list of {len(source)} records"
    return type(source).__name__


def check_read_options(
    encoding: str | None = "auto", delimiter: str | None = None, *, what: str = "records"
) -> tuple[str, str | None]:
    """Check ``encoding`` and ``delimiter`` as :func:`iter_records` takes them; return them
    normalised (``"auto"`` or Python's name of the codec; the delimiter or ``None`` to sniff).

    Cheap (no I/O): operators may call it in ``__init__`` to refuse a typo at parse time.
    """
    if encoding is None or (isinstance(encoding, str) and encoding.strip().lower() == "auto"):
        codec = "auto"
    else:
        try:
            if not isinstance(encoding, str):
                raise LookupError(encoding)
            info = codecs.lookup(encoding.strip())
            if not getattr(info, "_is_text_encoding", True):  # base64, rot13, zlib ...
                raise LookupError(encoding)
            codec = info.name
        except (LookupError, ValueError):
            raise AhgoraConfigError(
                f"{what}: unknown text encoding {encoding!r}: give a codec name such as 'utf-8', "
                "'cp1252' (Windows-1252), 'latin-1', 'utf-16' or 'cp850', or 'auto' (the default) to "
                "detect UTF-8, UTF-16 and Windows-1252."
            ) from None
        if codec == "utf-8-sig":
            codec = "utf-8"  # a leading byte order mark is dropped for every codec
    if delimiter is not None and (
        not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n'
    ):
        hint = ""
        if delimiter in ("\\t", "tab", "TAB"):
            hint = " For a tab, pass the tab character itself: delimiter='\\t' in Python."
        raise AhgoraConfigError(
            f"{what}: delimiter must be one character other than a quote or a line break, such "
            f"as ',', ';', '|' or a tab, or None to sniff it from the header; got {delimiter!r}.{hint}"
        )
    return codec, delimiter


def iter_records(
    source: Any,
    *,
    what: str = "records",
    encoding: str | None = "auto",
    delimiter: str | None = None,
) -> Iterator[Any]:
    """Yield the records of ``source`` one by one (see the module documentation).

    :param what: how messages name the source, e.g. ``"push: records"``.
    :param encoding: the files' text encoding: ``"auto"`` (the default; ``None`` means the same) for a
        byte order mark, else UTF-8, else Windows-1252 when that is safe (the module documentation
        says when), or a codec name that Python knows (``"latin-1"``, ``"cp1252"``, ``"utf-16"``).
        Applies to ``.json``, ``.jsonl`` and ``.csv`` files; ignored for lists.
    :param delimiter: the ``.csv`` delimiter, one character; ``None`` (the default) sniffs it from
        the header among ``,`` ``;`` tab and ``|``.

    Raises :class:`~airflow_provider_ahgora.exceptions.AhgoraConfigError` for a source of the wrong
    kind, an unknown file suffix, bad options, or a file that cannot be decoded or is not valid in its
    format (naming the file, the line or element, and what to do), when the iteration reaches the
    problem: the records before it have been yielded. A missing file raises ``FileNotFoundError``.
    """
    codec, delimiter = check_read_options(encoding, delimiter, what=what)
    if isinstance(source, Mapping):
        if "path" in source and isinstance(source["path"], (str, os.PathLike)):
            yield from iter_records(source["path"], what=what, encoding=codec, delimiter=delimiter)
            return
        raise AhgoraConfigError(
            f"{what} must be a list of records or a path/URI of a .json, .jsonl or .csv file; got a "
            "mapping without a 'path' key (to send one record, wrap it in a list)."
        )
    if isinstance(source, (str, os.PathLike)) or type(source).__name__ == "ObjectStoragePath":
        text = str(source).strip()
        if text.startswith("[") or text.startswith("{"):
            raise AhgoraConfigError(
                f"{what} is a string that looks like JSON: pass the records as a list (render templates "
                "with render_template_as_native_obj=True on the DAG) or as a file path."
            )
        yield from _iter_file(source, what, codec, delimiter)
        return
    if source is None:
        raise AhgoraConfigError(f"{what} is None: give a list of records or a file path.")
    if isinstance(source, (bytes, bytearray)) or not isinstance(source, Iterable):
        raise AhgoraConfigError(
            f"{what} must be a list of records or a path/URI of a .json, .jsonl or .csv file; got "
            f"{type(source).__name__}."
        )
    yield from source


def _suffix(name: str) -> str:
    lowered = name.lower()
    for suffix in (".jsonl", ".ndjson", ".json", ".csv"):
        if lowered.endswith(suffix):
            return suffix
    return ""


def _lines(handle: Any) -> Iterator[str]:
    """The lines of a text handle. Not ``for line in handle``: on Airflow 2 ``ObjectStoragePath.open``
    returns a ``TrackingFileWrapper`` that does not pass iteration through (``read`` and ``readline``
    it does)."""
    return iter(handle.readline, "")


def _iter_file(source: Any, what: str, encoding: str, delimiter: str | None) -> Iterator[Any]:
    path = _storage_path(source)
    name = _shown(source)
    suffix = _suffix(str(path))
    if not suffix:
        raise AhgoraConfigError(
            f"{what}: cannot tell the format of {name!r}: the name must end in .json (an array), "
            ".jsonl (one record per line) or .csv (a header line)."
        )
    where = f"{what}: {name}"
    with path.open("rb") as handle:
        text = _Decoder(handle.read, encoding, where)
        if suffix in (".jsonl", ".ndjson"):
            for number, line in enumerate(_split_lines(text), start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise AhgoraConfigError(
                        f"{where} line {number} is not valid JSON: {exc}. Each line must hold one JSON "
                        "value (a record)."
                    ) from None
        elif suffix == ".csv":
            yield from _iter_csv(_split_lines(text), delimiter, where)
        else:
            yield from _iter_json_array(_TextReader(text), where)


# --------------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------------


def _ascii_compatible(codec: str) -> bool:
    """Whether ``codec`` writes ASCII (and so line breaks) as ASCII bytes: lines can then be counted
    in the bytes, and positions given within the line."""
    sample = "\r\n,;\t|\"'azAZ09 "
    try:
        return sample.encode(codec) == sample.encode("ascii")
    except (UnicodeError, LookupError):
        return False


def _breaks(seq: Any, end: int, after_cr: bool, cr: Any, lf: Any) -> tuple[int, int]:
    """Line breaks (``\\r\\n``, ``\\r`` or ``\\n``) in ``seq[:end]`` and the index after the last one
    (-1 for none). ``after_cr``: what came before ``seq`` ended with ``\\r`` (already counted)."""
    count = seq.count(lf, 0, end) + seq.count(cr, 0, end) - seq.count(cr + lf, 0, end)
    if after_cr and end > 0 and seq[0:1] == lf:
        count -= 1
    last = max(seq.rfind(lf, 0, end), seq.rfind(cr, 0, end))
    return count, (last + 1 if last >= 0 else -1)


class _Decoder:
    """The text of a binary stream, chunk by chunk, decoded by the rules of the module documentation.

    Reads ``_CHUNK`` bytes at a time, once; holds at most a chunk and a cut character. Keeps the
    position (line, start of the line, offset) of the first byte not yet decoded, for messages.
    """

    def __init__(self, read: Callable[[int], bytes], encoding: str, where: str) -> None:
        self._read = read
        self._encoding = encoding
        self._where = where
        #: the codec finally used ("utf-8", "cp1252", ...); known once iteration began
        self.codec: str | None = None
        self._offset = 0  # file offset of the first byte not yet decoded
        self._line = 1  # its line
        self._line_start: int | None = 0  # the offset where that line starts (None: unknown)
        self._after_cr = False  # the last byte decoded was "\r"
        self._first_non_ascii: int | None = None  # line of the first non-ASCII character (auto, UTF-8)
        self._last_byte = 0  # the last byte decoded

    def __iter__(self) -> Iterator[str]:
        head = self._head()
        order_marks = _ORDER_MARKS.get(self._encoding)
        if order_marks is not None and head and not head.startswith(order_marks):
            raise AhgoraConfigError(
                f"{self._where} has no {self._encoding.upper()} byte order mark, so "
                f"encoding='{self._encoding}' cannot tell its byte order: pass "
                f"encoding='{self._encoding}-le' (what Windows writes) or '{self._encoding}-be'."
            )
        if self._encoding != "auto":
            yield from self._decode(head, self._encoding, auto=False)
            return
        for bom, codec in _BOMS:
            if head.startswith(bom):
                name = codec.upper()
                log.info("%s starts with a %s byte order mark: reading it as %s.", self._where, name, name)
                yield from self._decode(head, codec, auto=True)
                return
        yield from self._auto(head)

    def _head(self) -> bytes:
        """The first chunk, at least 4 bytes of it when the file has them (to see a byte order mark)."""
        parts: list[bytes] = []
        size = 0
        while size < 4:
            chunk = self._read(_CHUNK)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)

    # -- bookkeeping ------------------------------------------------------------------------------

    def _advance(self, buf: bytes, consumed: int, text: str, ascii_compatible: bool) -> None:
        """``buf[:consumed]`` was decoded to ``text``: move the position past it."""
        if ascii_compatible:
            count, last = _breaks(buf, consumed, self._after_cr, b"\r", b"\n")
            if last >= 0:
                self._line_start = self._offset + last
            if consumed:
                self._last_byte = buf[consumed - 1]
                self._after_cr = self._last_byte == 0x0D
        else:
            count, last = _breaks(text, len(text), self._after_cr, "\r", "\n")
            if last >= 0:
                self._line_start = None
            if text:
                self._after_cr = text.endswith("\r")
        self._line += count
        self._offset += consumed

    def _at(self, buf: bytes, pos: int) -> tuple[int, str]:
        """The line of ``buf[pos]`` (an ASCII-compatible encoding's bytes) and its description."""
        count, last = _breaks(buf, pos, self._after_cr, b"\r", b"\n")
        line = self._line + count
        offset = self._offset + pos
        start = self._offset + last if last >= 0 else self._line_start
        column = f", byte {offset - start + 1} of the line" if start is not None else ""
        return line, f"line {line}{column} (0x{buf[pos]:02X}, offset {offset} in the file)"

    def _nul(self, text: str, buf: bytes, ascii_compatible: bool) -> tuple[str, AhgoraConfigError] | None:
        """A NUL character refuses the file (auto mode): the text before it, and the error."""
        index = text.find("\x00")
        if index < 0:
            return None
        if ascii_compatible:
            _, place = self._at(buf, buf.index(b"\x00"))
        else:
            place = f"line {self._line + _breaks(text, index, self._after_cr, chr(13), chr(10))[0]}"
        return text[:index], AhgoraConfigError(
            f"{self._where} has a NUL byte at {place}: it is not a text file, or it is UTF-16 without "
            "a byte order mark. If it is UTF-16, pass encoding='utf-16-le' (or 'utf-16-be')."
        )

    # -- auto: UTF-8, else Windows-1252 -----------------------------------------------------------

    def _auto(self, data: bytes) -> Iterator[str]:
        self.codec = "utf-8"
        pending = b""
        while True:
            final = not data
            buf = pending + data if pending else data
            text: str | None = None
            refused: tuple[str, AhgoraConfigError] | None = None
            if self.codec == "utf-8":
                try:
                    text, consumed = codecs.utf_8_decode(buf, "strict", final)
                except UnicodeDecodeError as exc:
                    refused = self._leave_utf8(buf, exc.start)
                else:
                    if self._first_non_ascii is None and not text.isascii():
                        match = _NON_ASCII.search(buf)
                        assert match is not None
                        self._first_non_ascii = self._at(buf, match.start())[0]
            if text is None and refused is None:  # Windows-1252
                consumed = len(buf)
                if not final:
                    cut = _UTF8_CUT.search(buf, max(0, len(buf) - 3))
                    if cut is not None:
                        consumed = cut.start()
                text, refused = self._cp1252(buf, consumed)
            if refused is None:
                assert text is not None
                refused = self._nul(text, buf, True)
            if refused is not None:
                # the text before the problem goes out first: what precedes the bad line is read,
                # whatever the chunks, and the error comes when the reader asks for more
                if refused[0]:
                    yield refused[0]
                raise refused[1]
            assert text is not None
            self._advance(buf, consumed, text, True)
            pending = buf[consumed:]
            if text:
                yield text
            if final:
                return
            data = self._read(_CHUNK)

    def _leave_utf8(self, buf: bytes, pos: int) -> tuple[str, AhgoraConfigError] | None:
        """``buf[pos]`` is not UTF-8: go on in Windows-1252 (None) if all before was ASCII, else
        refuse (the text before it, and the error)."""
        line, place = self._at(buf, pos)
        if self._first_non_ascii is None and _NON_ASCII.search(buf, 0, pos) is None:
            self.codec = "cp1252"
            log.info(
                "%s is not UTF-8 at %s, and nothing before it is outside ASCII: reading it as "
                "Windows-1252 (cp1252). Pass encoding= to choose the encoding yourself.",
                self._where,
                place,
            )
            return None
        first = self._first_non_ascii
        if first is None:
            match = _NON_ASCII.search(buf, 0, pos)
            assert match is not None
            first = self._at(buf, match.start())[0]
        earlier = "the same line" if first == line else f"line {first}"
        return buf[:pos].decode("utf-8"), AhgoraConfigError(
            f"{self._where} is not valid UTF-8 at {place}, but {earlier} has UTF-8 characters: the "
            "file is corrupted or mixes encodings, and read either way some names would come out "
            "garbled. Fix that line or export the file again in one encoding; if you know the file's "
            "encoding, pass it as encoding= (e.g. encoding='utf-8' or 'cp1252')."
        )

    def _cp1252(self, buf: bytes, end: int) -> tuple[str, tuple[str, AhgoraConfigError] | None]:
        """``buf[:end]`` as Windows-1252, or where it does not look like Windows-1252: the text before
        that, and the error."""
        problems: list[tuple[int, str]] = []
        classes = buf.translate(_UTF8_CLASSES)
        candidate = classes.find(b"Lc", 0, end)
        while candidate >= 0:
            if _UTF8_SEQUENCE.match(buf, candidate, end):
                problems.append((candidate, "utf8"))
                break
            candidate = classes.find(b"Lc", candidate + 1, end)
        classes = buf.translate(_DOS_CLASSES)
        if end and classes[0] == ord("s") and self._last_byte in _ASCII_LETTERS:
            problems.append((0, "dos"))  # the letter ended the chunk before
        else:
            dos = classes.find(b"as", 0, end)
            if dos >= 0:
                problems.append((dos + 1, "dos"))
        try:
            text = buf[:end].decode("cp1252")
        except UnicodeDecodeError as exc:
            problems.append((exc.start, "undefined"))
        if not problems:
            return text, None
        pos, kind = min(problems)
        _, place = self._at(buf, pos)
        switched = "the file is being read as Windows-1252 because an earlier byte is not UTF-8"
        if kind == "utf8":
            error = AhgoraConfigError(
                f"{self._where} has a UTF-8 character at {place}, but {switched}: the file mixes "
                "encodings, and read either way some names would come out garbled. Export the file "
                "again in one encoding; if you know the file's encoding, pass it as encoding= (e.g. "
                "encoding='utf-8' or 'cp1252')."
            )
        elif kind == "dos":
            error = AhgoraConfigError(
                f"{self._where} does not look like Windows-1252 at {place}: a sign right after a letter "
                "is how a DOS code page letter (cp850's 'é', 'ç' or 'Ç') reads in Windows-1252, and the "
                "file is not UTF-8. Pass the file's encoding as encoding= (e.g. encoding='cp850' for a "
                "DOS export, or 'cp1252' if it really is Windows-1252)."
            )
        else:
            error = AhgoraConfigError(
                f"{self._where} is neither UTF-8 nor Windows-1252: {place} is not defined in "
                f"Windows-1252 ({switched}). Pass the file's encoding as encoding= (e.g. 'latin-1', "
                "'cp850', 'utf-16')."
            )
        return "", (buf[:pos].decode("cp1252"), error)

    # -- a known codec (given, or told by a byte order mark) --------------------------------------

    def _decode(self, data: bytes, codec: str, *, auto: bool) -> Iterator[str]:
        self.codec = codec
        decoder = codecs.getincrementaldecoder(codec)("strict")
        ascii_compatible = _ascii_compatible(codec)
        start = True
        if not auto and data.startswith(codecs.BOM_UTF8) and codec != "utf-8":
            log.warning(
                "%s starts with a UTF-8 byte order mark, but encoding=%r was given: reading it as %s.",
                self._where,
                codec,
                codec,
            )
        while True:
            final = not data
            state = decoder.getstate()
            buf = state[0] + data if state[0] else data
            refused: tuple[str, AhgoraConfigError] | None = None
            try:
                text = decoder.decode(data, final)
            except UnicodeError as exc:  # UnicodeDecodeError, or utf-16's "does not start with BOM"
                text = ""
                refused = self._refuse(exc, buf, codec, state, data, auto, ascii_compatible)
            if start and (text or refused):
                start = False
                if text.startswith("\ufeff"):
                    text = text[1:]
                if refused is not None and refused[0].startswith("\ufeff"):
                    refused = (refused[0][1:], refused[1])
            if auto and refused is None:
                refused = self._nul(text, buf, ascii_compatible)
            if refused is not None:
                if refused[0]:
                    yield refused[0]
                raise refused[1]
            consumed = len(buf) - len(decoder.getstate()[0])
            self._advance(buf, consumed, text, ascii_compatible)
            if text:
                yield text
            if final:
                return
            data = self._read(_CHUNK)

    def _refuse(
        self,
        exc: UnicodeError,
        buf: bytes,
        codec: str,
        state: tuple[bytes, int],
        data: bytes,
        auto: bool,
        ascii_compatible: bool,
    ) -> tuple[str, AhgoraConfigError]:
        """The text before a decoding error of a known codec, and the error to raise."""
        decoding = isinstance(exc, UnicodeDecodeError)
        pos = min(max(exc.start if isinstance(exc, UnicodeDecodeError) else 0, 0), max(len(buf) - 1, 0))
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
        # what decodes before the error, from the decoder's state before this chunk
        before = codecs.getincrementaldecoder(codec)("replace")
        try:
            before.setstate(state)
            prefix = before.decode(data[: max(0, pos - len(state[0]))])
        except UnicodeError:
            prefix = ""
        byte = f"0x{buf[pos]:02X}, " if buf else ""
        if ascii_compatible and buf:
            _, place = self._at(buf, pos)
        else:
            line = self._line + _breaks(prefix, len(prefix), self._after_cr, "\r", "\n")[0]
            place = f"line {line} ({byte}offset {self._offset + pos} in the file)"
        told = "its byte order mark says" if auto else "encoding= says"
        hint = ""
        if codec in ("utf-16", "utf-32") and not decoding:
            hint = f" Without a byte order mark, pass encoding='{codec}-le' or '{codec}-be'."
        return prefix, AhgoraConfigError(
            f"{self._where} is not valid {codec} ({told} {codec}) at {place}: {reason}. The file "
            "is corrupted or in another encoding: fix that line or export the file again, or pass "
            f"the file's real encoding as encoding=.{hint}"
        )


def _split_lines(chunks: Iterable[str]) -> Iterator[str]:
    """Lines with their line break (``\\r\\n``, ``\\r`` or ``\\n``) from chunks of text, as a file
    opened with ``newline=""`` gives them (what :mod:`csv` wants)."""
    parts: list[str] = []
    carry = ""
    for piece in itertools.chain(chunks, [None]):
        final = piece is None
        chunk = piece or ""
        if carry:
            chunk, carry = carry + chunk, ""
        if not final and chunk.endswith("\r"):
            chunk, carry = chunk[:-1], "\r"  # "\r\n" may be cut between two chunks
        start = 0
        for match in _LINE_BREAK.finditer(chunk):
            end = match.end()
            if parts:  # the line began in an earlier chunk
                parts.append(chunk[start:end])
                yield "".join(parts)
                parts.clear()
            else:
                yield chunk[start:end]
            start = end
        if start < len(chunk):
            parts.append(chunk[start:])
    if parts:
        yield "".join(parts)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class _TextReader:
    """``read`` over chunks of text, for the JSON array parser (a chunk at a time, "" at the end)."""

    def __init__(self, chunks: Iterable[str]) -> None:
        self._chunks = iter(chunks)

    def read(self, size: int = -1) -> str:
        for chunk in self._chunks:
            if chunk:
                return chunk
        return ""


# --------------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------------


def _sniff(header: str) -> set[str]:
    """The candidate delimiters in a header line outside quotes (a quote opens a quoted cell only at
    the start of a cell, as :mod:`csv` reads it)."""
    found: set[str] = set()
    quoted = False
    cell_start = True
    i = 0
    while i < len(header):
        ch = header[i]
        if quoted:
            if ch == _CSV_QUOTE:
                if header[i + 1 : i + 2] == _CSV_QUOTE:
                    i += 1
                else:
                    quoted = False
        elif ch == _CSV_QUOTE and cell_start:
            quoted = True
            cell_start = False
        elif ch in CSV_DELIMITERS:
            found.add(ch)
            cell_start = True
        elif ch in "\r\n":
            break
        else:
            cell_start = False
        i += 1
    return found


def _delimiter_name(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def _iter_csv(lines: Iterator[str], delimiter: str | None, where: str) -> Iterator[dict[str, str]]:
    skipped = 0  # blank lines before the header
    first = ""
    for first in lines:
        if first.strip():
            break
        skipped += 1
    else:
        return  # no header: no records
    sniffed = delimiter is None
    if delimiter is None:
        found = _sniff(first)
        if len(found) > 1:
            names = " and ".join(_delimiter_name(d) for d in CSV_DELIMITERS if d in found)
            raise AhgoraConfigError(
                f"{where}: cannot tell the delimiter: the header (line {skipped + 1}) has {names} "
                f"outside quotes: {first.rstrip(chr(13) + chr(10))[:200]!r}. Pass delimiter= with the one "
                "that separates the columns (e.g. delimiter=';')."
            )
        delimiter = found.pop() if found else ","
    ended = False

    def feed() -> Iterator[str]:
        nonlocal ended
        yield first
        yield from lines
        ended = True  # csv asked for a line after the last one: only inside a quoted cell

    reader = csv.reader(feed(), delimiter=delimiter)

    def lines_of(start: int) -> str:
        end = reader.line_num + skipped
        return f"the row on line {end}" if start >= end else f"the row on lines {start}-{end}"

    how = f"delimiter {_delimiter_name(delimiter)}" + (", sniffed from the header" if sniffed else "")
    other = (
        f", or pass delimiter= if {_delimiter_name(delimiter)} is not the file's delimiter" if sniffed else ""
    )
    empty = repr(f"a{delimiter}{delimiter}c")
    previous = 0
    header: list[str] | None = None
    keys: list[tuple[int, str]] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise AhgoraConfigError(
                f"{where}: {lines_of(previous + skipped + 1)} is not valid CSV: {exc}. Fix the file "
                "(often a quote that opens a cell and is never closed)."
            ) from None
        start = previous + skipped + 1
        previous = reader.line_num
        if ended:
            raise AhgoraConfigError(
                f"{where}: {lines_of(start)} opens a quoted cell "
                "that is never closed: the file ends inside it. The file was cut, or a quote is "
                'missing or stray (a quote inside a quoted cell is written twice: ""); fix the file.'
            )
        if header is None:
            header = row
            keys = [(i, name) for i, name in enumerate(row) if name]
            _check_header(header, where, lines_of(start), how)
            continue
        if not row:
            continue  # a blank line
        if len(row) != len(header):
            more = len(row) > len(header)
            raise AhgoraConfigError(
                f"{where}: {lines_of(start)} has {'more' if more else 'fewer'} cells than the header: "
                f"{len(row)} against {len(header)} ({how}). "
                + (
                    "Quote the values that contain the delimiter, or fix the row"
                    if more
                    else "A value is missing or the row was cut (an empty value still needs its "
                    f"delimiter: {empty}): fix the row"
                )
                + f"{other}."
            )
        if len(keys) < len(header):
            _check_unnamed_cells(header, row, where, lines_of(start))
        yield {name: row[i] for i, name in keys if row[i] != ""}


def _column(i: int) -> str:
    """A column as a spreadsheet names it (1 -> A, 27 -> AA), with its number."""
    letters, n = "", i + 1
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return f"column {i + 1} ({letters})"


def _check_header(header: list[str], where: str, line: str, how: str) -> None:
    """Two columns of one name would make one value silently replace the other: refused."""
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if not name:
            continue
        if name in seen:
            raise AhgoraConfigError(
                f"{where}: the header ({line.replace('the row on ', '')}) names {name!r} twice, in "
                f"{_column(seen[name])} and {_column(i)} ({how}): one value would replace the other. "
                "Rename or remove one of the columns."
            )
        seen[name] = i


def _check_unnamed_cells(header: list[str], row: list[str], where: str, line: str) -> None:
    """A value under a column without a name has nowhere to go: refused rather than dropped (empty
    cells under empty header cells, as a trailing delimiter leaves, are fine)."""
    for i, name in enumerate(header):
        if not name and row[i] != "":
            raise AhgoraConfigError(
                f"{where}: {line} has a value in {_column(i)}, whose header cell is empty: it would be "
                "dropped. Name the column in the header, or remove the value."
            )


# --------------------------------------------------------------------------------------------------
# The streamed JSON array
# --------------------------------------------------------------------------------------------------


#: How close to the end of the buffer a decode error may be and still be a cut (``tru``, ``-Infini``).
_CUT_MARGIN = 10


def _cut_by_the_end(exc: ValueError, size: int) -> bool:
    """Whether a JSON decode error could be the buffer ending inside the element: an unterminated
    string (reported where the string starts), or any error within a few characters of the end."""
    if not isinstance(exc, json.JSONDecodeError):
        return True
    return exc.msg.startswith("Unterminated string") or exc.pos >= size - _CUT_MARGIN


def _iter_json_array(handle: io.TextIOBase | Any, where: str) -> Iterator[Any]:
    """Decode a JSON array element by element from a text stream (bounded memory)."""
    buffer = ""
    pos = 0
    eof = False

    def fill(grow: bool = False) -> bool:
        # drop what was consumed, then read one more chunk (with grow, at least as much again as is
        # pending, so that an element needing many chunks is re-decoded O(log n) times); False at
        # the end
        nonlocal buffer, pos, eof
        if eof:
            return False
        want = len(buffer) - pos if grow else 1
        parts: list[str] = []
        got = 0
        while got < want:
            chunk = handle.read(_CHUNK)  # a reader may give less than asked: gather up to want
            if not chunk:
                eof = True
                break
            parts.append(chunk)
            got += len(chunk)
        if not parts:
            return False
        buffer = buffer[pos:] + "".join(parts)
        pos = 0
        return True

    def skip_ws() -> None:
        nonlocal pos
        while True:
            while pos < len(buffer) and buffer[pos] in _WHITESPACE:
                pos += 1
            if pos < len(buffer) or not fill():
                return

    skip_ws()
    if pos >= len(buffer) or buffer[pos] != "[":
        raise AhgoraConfigError(f"{where} must hold a JSON array of records (it does not start with '[').")
    pos += 1
    skip_ws()
    index = 0
    if pos < len(buffer) and buffer[pos] == "]":
        pos += 1
    else:
        while True:
            while True:
                try:
                    value, end = _DECODER.raw_decode(buffer, pos)
                except ValueError as exc:
                    # More text can only help when the element was cut by the buffer's end; a bad token
                    # in the middle fails now (reading on would hold the rest of the file in memory).
                    # The buffer grows geometrically, so a huge element is decoded in linear time.
                    if _cut_by_the_end(exc, len(buffer)) and fill(grow=True):
                        continue
                    raise AhgoraConfigError(f"{where}: element {index} is not valid JSON: {exc}") from None
                if (
                    not isinstance(value, (dict, list, str))
                    and (end >= len(buffer) or buffer[end] not in _DELIMITERS)
                    and fill()
                ):
                    continue  # a number or literal may go on in the next chunk ("1." + "5e3")
                break
            yield value
            index += 1
            pos = end
            skip_ws()
            if pos >= len(buffer):
                raise AhgoraConfigError(f"{where}: the array is not closed (']' missing at the end).")
            if buffer[pos] == ",":
                pos += 1
                skip_ws()
                continue
            if buffer[pos] == "]":
                pos += 1
                break
            raise AhgoraConfigError(f"{where}: expected ',' or ']' after element {index - 1}.")
    skip_ws()
    if pos < len(buffer):
        raise AhgoraConfigError(f"{where}: unexpected data after the closing ']'.")


class PlainStringTemplatesMixin:
    """For operators whose templated fields carry data (records): render as Airflow does, except
    strings without Jinja markup, which are data and stay as they are."""

    def render_template(
        self,
        content: Any,
        context: Any,
        jinja_env: Any = None,
        seen_oids: set[int] | None = None,
    ) -> Any:
        """Render as Airflow does, except a string without Jinja markup, which is data and stays as is.

        A literal list of records would otherwise be rendered one string at a time (a template
        compiled per cell: seconds for a few thousand records, at every try) and, with
        ``render_template_as_native_obj=True``, ``"123"`` would become ``123`` and ``"[1]"`` a list.
        """
        operator: Any = self
        if isinstance(content, str) and not content.endswith(tuple(operator.template_ext)):
            jinja_env = jinja_env or operator.get_template_env()
            marks = (
                jinja_env.variable_start_string,
                jinja_env.block_start_string,
                jinja_env.comment_start_string,
                jinja_env.line_statement_prefix,
                jinja_env.line_comment_prefix,
            )
            if not any(mark and mark in content for mark in marks):
                return content
        return super().render_template(content, context, jinja_env, seen_oids)  # type: ignore[misc]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class FailureReport:
    """A JSON Lines failure report written incrementally and committed atomically.

    ``add`` appends one entry to a hidden temporary object next to ``target``; ``commit`` moves it
    onto ``target`` (an existing report there is replaced; leftovers of killed tries are removed);
    ``discard`` removes it. ``count`` is the
    number of entries written. Use as a context manager: leaving it with an exception discards.
    """

    def __init__(self, target: Any, *, keep: Iterable[Mapping[str, Any]] = ()) -> None:
        self.target = _report_path(target)
        self.count = 0
        self._tmp = partial_path(self.target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self._handle: Any = self._tmp.open("w", encoding="utf-8")
        for entry in keep:
            self._write(entry)

    @property
    def path(self) -> str:
        return str(self.target)

    @property
    def closed(self) -> bool:
        """Committed or discarded."""
        return bool(self._handle.closed)

    def _write(self, entry: Mapping[str, Any]) -> None:
        self._handle.write(_dumps(entry) + "\n")
        self.count += 1

    def add(self, record: Any, reason: str, batch: int | None = None, **extra: Any) -> None:
        """One failed record: the record as given (or what is known of it), why, and its batch."""
        self._write({"record": record, "reason": reason, "batch": batch, **extra})

    def commit(self) -> str:
        """Close and move the report into place; returns its path."""
        self._handle.close()
        commit(self._tmp, self.target)
        return self.path

    def discard(self) -> None:
        try:
            self._handle.close()
        finally:
            with contextlib.suppress(OSError):
                self._tmp.unlink()

    def __enter__(self) -> FailureReport:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None and not self.closed:
            self.discard()


def read_report(path: Any) -> Iterator[dict[str, Any]]:
    """The entries of a failure report, in order (an absent report has none)."""
    target = _report_path(path)
    if not target.exists():
        return
    with target.open("r", encoding="utf-8") as handle:
        for line in _lines(handle):
            if line.strip():
                yield json.loads(line)

"""The voice library refuses bad input with a specific message: adding, naming, ids, and voice files.

Voice files are the one place where a stranger's file reaches the server, so every kind of
hostile zip is built here (never a real 1 GB member: the size is forged or the file sparse)
and each refusal is checked by its message, and by nothing having been written.
"""

from __future__ import annotations

import io
import json
import stat
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engines import InputError
from engines.voices.library import VoiceLibrary
from engines.voices.library.archive import MAX_ARCHIVE_BYTES
from engines.voices.catalog import VoiceCatalog
from tests.voices.test_voices_cli import bad_input, ok_json, run_cli

TRANSCRIPT = "this is my voice, recorded for a test."


@pytest.fixture
def library(tmp_path) -> VoiceLibrary:
    return VoiceLibrary(tmp_path / "voices")


@pytest.fixture
def saved(library, reference_wav) -> dict:
    return library.add("Maria", reference_wav, TRANSCRIPT, "pt-BR")


def wav_bytes(seconds: float = 2.0, rate: int = 24000, silent: bool = False) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = np.zeros_like(t) if silent else 0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    buffer = io.BytesIO()
    sf.write(buffer, samples.astype(np.float32), rate, subtype="PCM_16", format="WAV")
    return buffer.getvalue()


def record(**overrides) -> bytes:
    data = {"format": "voice-studio-voice/1", "id": "ana", "name": "Ana", "language": "pt-BR",
            "transcript": TRANSCRIPT, "created": "2026-11-01T10:00:00+00:00", "notes": "", "consent": ""}
    data.update(overrides)
    return json.dumps(data).encode()


def make_zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


def good_members() -> list[tuple[str, bytes]]:
    return [("voice.json", record()), ("reference.wav", wav_bytes())]


def forge_declared_size(path: Path, member: str, size: int) -> None:
    """Rewrite the central directory so ``member`` claims to unpack to ``size`` bytes."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at != -1:
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46: at + 46 + name_length]).decode() == member:
            struct.pack_into("<I", data, at + 24, size)
            path.write_bytes(bytes(data))
            return
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(f"{member} not in {path}")


# --- adding -------------------------------------------------------------------------------
def test_duplicate_name_is_refused_whatever_its_case(library, saved):
    for name in ("Maria", "  maria ", "MARIA"):
        with pytest.raises(InputError, match=r"a voice named 'Maria' already exists \(id maria\)"):
            library.add(name, None)
    assert [v["id"] for v in library.list()] == ["maria"]


@pytest.mark.parametrize("name", ["female_generic", "Female Generic", "male-generic", "MALE_GENERIC"])
def test_a_presets_name_is_refused(library, reference_wav, name):
    with pytest.raises(InputError, match="is the name of a built-in preset"):
        library.add(name, reference_wav, TRANSCRIPT)
    assert library.list() == []


@pytest.mark.parametrize("bad_id", ["a/b", "../voices", "/etc/passwd", "Maria", "x" * 65, "", "a b"])
def test_an_id_that_is_not_a_slug_is_refused_everywhere(library, saved, bad_id, tmp_path):
    with pytest.raises(InputError, match="is not valid: an id is 1 to 64 characters"):
        library.remove(bad_id)
    with pytest.raises(InputError, match="is not valid"):
        library.export(bad_id, tmp_path / "out.zip")
    assert library.get(bad_id) is None
    if bad_id:  # an empty voice means the default preset to the catalog
        catalog = VoiceCatalog(tmp_path / "cache", None, library)
        with pytest.raises(InputError, match=r"unknown voice .*available voices: female_generic, male_generic, maria"):
            catalog.resolve(bad_id)
    assert not (tmp_path / "out.zip").exists() and [v["id"] for v in library.list()] == ["maria"]


def test_names_are_made_into_unique_slugs(library, reference_wav):
    assert library.add("Maria José / Narração #2", reference_wav)["id"] == "maria-jose-narracao-2"
    assert library.add("日本語", reference_wav)["id"].startswith("voice-")


@pytest.mark.parametrize("name, message", [
    ("", "the voice needs a name"),
    ("   ", "the voice needs a name"),
    ("x" * 81, "voice name is 81 characters; at most 80"),
    ("bad\x00name", "control characters"),
])
def test_bad_names(library, reference_wav, name, message):
    with pytest.raises(InputError, match=message):
        library.add(name, reference_wav)


@pytest.mark.parametrize("reference, message", [
    (None, "no reference audio: upload or record a clip"),
    ("", "no reference audio"),
    ("/nonexistent/clip.wav", "reference audio file was not found on the server"),
])
def test_no_reference(library, reference, message):
    with pytest.raises(InputError, match=message):
        library.add("Maria", reference, TRANSCRIPT)
    assert library.list() == []


def test_unreadable_reference(library, tmp_path):
    junk = tmp_path / "clip.wav"
    junk.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(InputError, match="reference audio could not be decoded"):
        library.add("Maria", junk, TRANSCRIPT)
    silent = tmp_path / "silent.wav"
    silent.write_bytes(wav_bytes(silent=True))
    with pytest.raises(InputError, match="reference audio is silent"):
        library.add("Maria", silent, TRANSCRIPT)
    assert library.list() == [] and not library.root.exists()  # nothing written before the clip was accepted


def test_empty_transcript_is_accepted_for_xtts_only(library, reference_wav):
    voice = library.add("No Words", reference_wav, "   ")
    assert voice["transcript"] == "" and voice["engines"] == ["xtts"]
    assert library.get("no-words").has_transcript is False


def test_bad_language_and_overlong_fields(library, reference_wav):
    with pytest.raises(InputError, match="unknown language 'klingon'"):
        library.add("Maria", reference_wav, TRANSCRIPT, "klingon")
    with pytest.raises(InputError, match="reference transcript is 2001 characters; at most 2000"):
        library.add("Maria", reference_wav, "a" * 2001)
    with pytest.raises(InputError, match="notes is 2001 characters"):
        library.add("Maria", reference_wav, TRANSCRIPT, notes="n" * 2001)


# --- voice files --------------------------------------------------------------------------
def _symlink_member() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("reference.wav")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("members, message", [
    ([("voice.json", record()), ("reference.wav", wav_bytes()), ("../evil", b"x")],
     r"member '../evil' is refused: its path holds '..'"),
    ([("voice.json", record()), ("reference.wav", wav_bytes()), ("cache/../../evil.safetensors", b"x")],
     r"its path holds '..'"),
    ([("voice.json", record()), ("/etc/evil", b"x"), ("reference.wav", wav_bytes())],
     r"member '/etc/evil' is refused: it is an absolute path"),
    ([("voice.json", record()), (_symlink_member(), b"/etc/passwd")],
     r"member 'reference.wav' is refused: it is a symbolic link"),
    ([("voice.json", record()), ("reference.wav", wav_bytes()), ("run.sh", b"rm -rf /")],
     r"member 'run.sh' is refused: a voice file holds only voice.json and reference.wav"),
    ([("voice.json", record()), ("reference.wav", wav_bytes()), ("reference.wav", wav_bytes())],
     r"holds 'reference.wav' twice"),
    ([("voice.json", record())], r"voice file has no reference.wav"),
    ([("reference.wav", wav_bytes())], r"voice file has no voice.json"),
    ([("voice.json", b"{not json"), ("reference.wav", wav_bytes())],
     r"voice.json in the voice file is not valid JSON \(line 1, column 2"),
    ([("voice.json", b"\xff\xfe\x00"), ("reference.wav", wav_bytes())], r"voice.json in the voice file is not UTF-8"),
    ([("voice.json", b"[" * 50_000), ("reference.wav", wav_bytes())], r"voice.json in the voice file is nested 50,000 levels deep; the limit is 32"),
    ([("voice.json", b"[1, 2]"), ("reference.wav", wav_bytes())], r"must hold a JSON object"),
    ([("voice.json", record(id="a/b")), ("reference.wav", wav_bytes())],
     r"the id in voice.json in the voice file 'a/b' is not valid"),
    ([("voice.json", record(id="female_generic")), ("reference.wav", wav_bytes())], r"name of a built-in preset"),
    ([("voice.json", record(name="Male Generic")), ("reference.wav", wav_bytes())], r"name of a built-in preset"),
    ([("voice.json", record(name=None)), ("reference.wav", wav_bytes())], r"the voice needs a name"),
    ([("voice.json", record(transcript=["a"])), ("reference.wav", wav_bytes())], r"transcript must be text"),
    ([("voice.json", record(format="other/9")), ("reference.wav", wav_bytes())], r"has format 'other/9'"),
    ([("voice.json", record()), ("reference.wav", b"ID3\x04 an mp3 is not what export writes")],
     r"reference.wav in the voice file is not a WAV file"),
    ([("voice.json", record()), ("reference.wav", wav_bytes(silent=True))],
     r"the voice file's reference.wav is unusable: reference audio is silent"),
])
def test_hostile_or_broken_voice_files_are_refused(library, tmp_path, members, message):
    archive = make_zip(tmp_path / "bad.voice.zip", members)
    with pytest.raises(InputError, match=message):
        library.import_archive(archive)
    assert library.list() == []
    assert not (tmp_path / "evil").exists() and not Path("/etc/evil").exists()


def test_ten_thousand_members_are_refused_before_any_is_read(library, tmp_path):
    path = tmp_path / "many.voice.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(10_000):
            archive.writestr(f"cache/m{index}.safetensors", b"")
    with pytest.raises(InputError, match="voice file holds 10,000 members; a voice file holds at most 16"):
        library.import_archive(path)


def test_a_member_that_claims_one_gigabyte_is_refused(library, tmp_path):
    path = make_zip(tmp_path / "big.voice.zip", good_members())
    forge_declared_size(path, "reference.wav", 2**30)
    with pytest.raises(InputError, match=r"member 'reference.wav' is refused: it unpacks to 1,073,741,824 bytes"):
        library.import_archive(path)


def test_a_member_whose_header_understates_its_size_is_caught(library, tmp_path):
    path = make_zip(tmp_path / "liar.voice.zip", good_members())
    forge_declared_size(path, "reference.wav", 100)  # the stream holds far more: zipfile stops and the CRC fails
    with pytest.raises(InputError, match="voice file is not a readable zip archive"):
        library.import_archive(path)


def test_a_one_gigabyte_voice_file_is_refused_by_its_size(library, tmp_path):
    path = tmp_path / "huge.voice.zip"
    with open(path, "wb") as handle:  # sparse: no gigabyte is written
        handle.truncate(2**30)
    assert path.stat().st_size > MAX_ARCHIVE_BYTES
    with pytest.raises(InputError, match=r"voice file is 1,024.0 MB; a voice file is at most 16 MB"):
        library.import_archive(path)


@pytest.mark.parametrize("content, message", [(b"", "voice file is empty"),
                                              (b"PK\x03\x04 not really a zip", "not a readable zip archive")])
def test_not_a_zip(library, tmp_path, content, message):
    path = tmp_path / "x.voice.zip"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        library.import_archive(path)
    with pytest.raises(InputError, match="no voice file"):
        library.import_archive(None)


def test_caches_inside_a_voice_file_are_ignored(library, tmp_path, caplog):
    import pickle

    poisoned = pickle.dumps({"never": "unpickled"})
    path = make_zip(tmp_path / "ana.voice.zip", good_members() + [("cache/", b""),
                                                                 ("cache/xtts-0123abcd.safetensors", poisoned)])
    caplog.set_level("INFO", logger="voice_studio.voices")
    voice = library.import_archive(path)
    assert voice["id"] == "ana" and voice["name"] == "Ana" and voice["engines"] == ["f5tts", "xtts"]
    assert sorted(p.name for p in (library.root / "ana").iterdir()) == ["reference.wav", "voice.json"]
    assert any("caches in the file ignored" in r.getMessage() for r in caplog.records)


def test_importing_a_voice_that_exists_is_refused(library, saved, tmp_path):
    exported = library.export("maria", tmp_path / "maria.voice.zip")
    with pytest.raises(InputError, match=r"a voice named 'Maria' already exists"):
        library.import_archive(exported)
    library.remove("maria")
    assert library.import_archive(exported)["id"] == "maria"


# --- the command line ----------------------------------------------------------------------
@pytest.mark.slow
def test_cli_bad_input_exits_2_with_one_error_line(tmp_path, reference_wav):
    # No model is needed: every case is refused before an engine would load.
    env = {"VOICE_STUDIO_VOICES_DIR": str(tmp_path / "voices"), "VOICE_STUDIO_CACHE_DIR": str(tmp_path / "cache"),
           "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    ok_json(run_cli(["voices", "add", "--name", "Maria", "--reference", str(reference_wav)], env))
    evil = tmp_path / "evil.voice.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("voice.json", "{}")
        archive.writestr("../evil", "x")
    cases = [
        (["voices", "add", "--name", "maria", "--reference", str(reference_wav)], "a voice named 'Maria' already exists"),
        (["voices", "add", "--name", "male_generic", "--reference", str(reference_wav)], "name of a built-in preset"),
        (["voices", "add", "--name", "Ana", "--reference", str(tmp_path / "missing.wav")], "was not found"),
        (["voices", "remove", "a/b"], "voice id 'a/b' is not valid"),
        (["voices", "remove", "nobody"], "no saved voice 'nobody'; saved voices: maria"),
        (["voices", "remove", "female_generic"], "female_generic is a built-in preset, not a saved voice"),
        (["voices", "export", "maria", "--out", str(tmp_path / "maria.wav")], "--out must name a .zip file"),
        (["voices", "import", str(evil)], "member '../evil' is refused"),
        (["voices", "import", str(tmp_path / "none.zip")], "voice file was not found"),
        (["voices", "frobnicate"], "invalid choice: 'frobnicate'"),
    ]
    for args, message in cases:
        line = bad_input(run_cli(args, env))
        assert message in line, (args, line)
    assert not (tmp_path / "evil").exists()
    line = bad_input(run_cli(["synth", "--text", "Hi there.", "--language", "en", "--voice", "nobody",
                              "--out", str(tmp_path / "o.wav")], env))
    assert "unknown voice 'nobody'; available voices: female_generic, male_generic, maria" in line

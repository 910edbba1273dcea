"""The timeline's wavesurfer.js: installed only from the pinned, checked tarball, never from anything else.

The tarball ``scripts/install.sh`` fetched is kept beside the files; these tests install from a copy
of it with the network cut off (the downloaders made to fail), and refuse a copy one byte off.
"""

from __future__ import annotations

import shutil

import pytest

from webui.tabs.studio import vendor


@pytest.fixture
def tarball():
    kept = vendor.timeline_dir() / vendor.TARBALL
    assert kept.is_file(), f"the timeline's wavesurfer.js tarball is missing: {vendor.HOW_TO_GET}"
    return kept


@pytest.fixture
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise vendor.VendorError("offline: the network is cut off in this test")

    monkeypatch.setattr(vendor, "with_http", refuse)
    monkeypatch.setattr(vendor, "with_npm", lambda workdir: None)


def test_a_kept_tarball_installs_the_pinned_files_without_the_network(tmp_path, tarball, offline):
    folder = tmp_path / "wavesurfer"
    folder.mkdir()
    shutil.copy(tarball, folder / vendor.TARBALL)
    assert not vendor.installed(folder)
    vendor.fetch(folder)
    assert vendor.installed(folder)
    for name in vendor.FILES.values():
        assert (folder / name).read_bytes() == (vendor.timeline_dir() / name).read_bytes()
    assert b"BSD" in (folder / "LICENSE").read_bytes() or b"Redistribution" in (folder / "LICENSE").read_bytes()
    assert vendor.main(["--check", "--dir", str(folder)]) == 0


def test_a_tarball_one_byte_off_is_refused_and_nothing_is_installed(tmp_path, tarball, offline):
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(vendor.VendorError, match="refusing it"):
        vendor.verify(bytes(data))
    folder = tmp_path / "wavesurfer"
    folder.mkdir()
    (folder / vendor.TARBALL).write_bytes(bytes(data))
    with pytest.raises(vendor.VendorError, match="offline"):     # the bad copy is not used; a download is tried
        vendor.fetch(folder)
    assert not vendor.installed(folder) and not (folder / "wavesurfer.min.js").exists()
    assert vendor.main(["--check", "--dir", str(folder)]) == 1


def test_another_release_in_the_folder_does_not_count_and_the_switch_turns_fetching_off(tmp_path):
    folder = tmp_path / "wavesurfer"
    folder.mkdir()
    for name in vendor.FILES.values():
        (folder / name).write_text("x")
    (folder / vendor.STAMP).write_text("wavesurfer.js@7.0.0 sha512-other\n")
    assert not vendor.installed(folder)
    env = {vendor.ENV_DIR: str(folder), vendor.ENV_FETCH: "off"}
    assert vendor.timeline_dir(env) == folder and vendor.fetch_in_background(env) is None

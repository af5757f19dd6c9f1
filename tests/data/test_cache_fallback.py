"""An unusable cache folder never makes a bundled market unloadable; cache=False skips it."""

from __future__ import annotations

import os
import stat
import warnings

import pytest

import quantrl
from quantrl.data.cache import CACHE_ENV, CacheWarning, DiskCache


@pytest.fixture(scope="module")
def djia_reference(tmp_path_factory):
    return quantrl.load_market("djia", cache=DiskCache(tmp_path_factory.mktemp("fresh")))


def _load_with_warnings(**kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        panel = quantrl.load_market("djia", **kwargs)
    return panel, [w for w in caught if issubclass(w.category, CacheWarning)]


def test_cache_env_naming_a_file_falls_back_with_one_warning(tmp_path, monkeypatch, djia_reference):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv(CACHE_ENV, str(blocker))
    panel, caught = _load_with_warnings()
    assert panel.equals(djia_reference)
    assert len(caught) == 1
    assert str(blocker) in str(caught[0].message) and "--no-cache" in str(caught[0].message)
    assert blocker.read_text() == "x"


def test_read_only_cache_folder_falls_back_with_one_warning(tmp_path, monkeypatch, djia_reference):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)  # 0o500
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes (the file case covers it)")
        monkeypatch.setenv(CACHE_ENV, str(folder))
        panel, caught = _load_with_warnings()
        assert panel.equals(djia_reference)
        assert len(caught) == 1 and "cannot be written" in str(caught[0].message)
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_cache_false_reads_and_writes_nothing(tmp_path, monkeypatch, djia_reference):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    panel, caught = _load_with_warnings(cache=False)
    assert panel.equals(djia_reference) and caught == []
    assert not (tmp_path / "cache").exists()
    quantrl.load_market("djia")
    assert list((tmp_path / "cache" / "panels").glob("*.bin"))  # the default still caches
    with pytest.raises(quantrl.ConfigError, match="cache must be"):
        quantrl.load_market("djia", cache="yes")  # type: ignore[arg-type]


def test_a_readable_but_unwritable_cache_still_serves_its_entries(tmp_path, djia_reference):
    cache = DiskCache(tmp_path)
    cache.put_bytes("ns", "k", b"payload")
    cache.writable = False  # as after a failed write
    assert cache.get_bytes("ns", "k") == b"payload"
    cache.put_bytes("ns", "other", b"x")
    assert not cache.contains("ns", "other")

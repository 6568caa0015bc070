"""The demo's drawn images and the cache that keeps them between seeds (demo/images.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from linli.demo import images
from linli.demo.images import ImageCache, product_image

pytestmark = pytest.mark.database_free


def test_a_missing_image_is_drawn_kept_whole_and_read_back(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "cache")
    drawn = product_image("烟台红富士苹果", "fresh_food", 64)

    assert cache.product_image("烟台红富士苹果", "fresh_food", 64) == drawn
    path = cache.path("烟台红富士苹果", "fresh_food", 64)
    assert path is not None
    assert path.read_bytes() == drawn
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    # Read back, not drawn again: what is on disk is what comes out.
    path.write_bytes(b"kept")
    assert cache.product_image("烟台红富士苹果", "fresh_food", 64) == b"kept"


def test_every_argument_and_the_drawing_code_make_another_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ImageCache(tmp_path)
    paths = {
        cache.path("apple", "fresh_food", 64),
        cache.path("pear", "fresh_food", 64),
        cache.path("apple", "groceries", 64),
        cache.path("apple", "fresh_food", 128),
    }
    monkeypatch.setattr(images, "DRAWING_VERSION", "changed")
    paths.add(cache.path("apple", "fresh_food", 64))
    assert len(paths) == 5


def test_without_a_usable_cache_the_image_is_drawn(tmp_path: Path) -> None:
    drawn = product_image("手机", "smartphones", 48)
    assert ImageCache(None).product_image("手机", "smartphones", 48) == drawn
    assert ImageCache(None).path("手机", "smartphones", 48) is None

    blocked = tmp_path / "file-not-directory"
    blocked.write_bytes(b"")
    assert ImageCache(blocked / "cache").product_image("手机", "smartphones", 48) == drawn

    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert ImageCache(read_only).product_image("手机", "smartphones", 48) == drawn
    finally:
        read_only.chmod(stat.S_IRWXU)


def test_the_cache_lives_in_the_users_cache_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere/cache")
    assert images.default_cache_dir() == Path("/somewhere/cache/linli/demo-images")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert images.default_cache_dir() == Path.home() / ".cache" / "linli" / "demo-images"

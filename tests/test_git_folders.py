"""Listing chosen folders of a commit (``files_in``, ``part_tree``) agrees with the whole
listing, for any name git can hold, below a sub-folder source, and for folders that are gone."""

from __future__ import annotations

from pathlib import Path

from controller.adapters.git.source import GitSource
from controller.ports import SourceSpec
from tests.gitrepo import GitRepo

ODD = ["a b", "we*ird[1]", "new\nline", ":(glob)x", "ü"]


def make(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    files = {"top.txt": "t\n", "sub/root.txt": "r\n"}
    for name in ODD:
        files |= {f"sub/{name}/f.txt": name, f"sub/{name}/deep/g.txt": name + "!", f"sub/{name}/h": "h"}
    repo.write(files).commit("odd names")
    return repo


def test_folders_listed_alone_agree_with_the_whole_tree(tmp_path: Path) -> None:
    repo = make(tmp_path)
    snapshot = GitSource(SourceSpec(str(repo.root), path="sub"), tmp_path / "home").snapshot()
    whole = snapshot.tree.files()
    for name in ODD:
        assert snapshot.files_in([name]) == [f"{name}/f.txt", f"{name}/h"]
    assert snapshot.files_in([""]) == ["root.txt"]
    assert snapshot.files_in(["gone", "a b/nothing"]) == []
    part = snapshot.part_tree(["", "we*ird[1]"], ODD[:2])
    assert part is not None
    expected = ["root.txt"] + [p for p in whole if p.startswith(("a b/", "we*ird[1]/"))]
    assert list(part.files()) == sorted(expected)
    for path in part.files():
        assert part.read(path) == snapshot.tree.read(path)
        assert part.content_id(path) == snapshot.tree.content_id(path)


def test_a_symlink_in_the_listed_part_refuses_the_part(tmp_path: Path) -> None:
    repo = make(tmp_path)
    (repo.root / "sub" / "a b" / "link.txt").symlink_to("../root.txt")
    repo.git("add", "-A")
    repo.commit("a link")
    snapshot = GitSource(SourceSpec(str(repo.root), path="sub"), tmp_path / "home").snapshot()
    assert snapshot.part_tree([""], ["a b"]) is None
    assert snapshot.part_tree([""], ["ü"]) is not None


def _rewrite_modes(repo: GitRepo, tree: str, modes: dict[bytes, bytes]) -> str:
    """``tree`` (and its sub-trees) written again with each mode in ``modes`` replaced, as old
    tools wrote them (``040000``, ``100664``); git itself still reads them as usual."""
    raw = repo.git_bytes("cat-file", "tree", tree)
    out, at = b"", 0
    while at < len(raw):
        space, end = raw.index(b" ", at), raw.index(b"\0", raw.index(b" ", at))
        mode, sha = raw[at:space], raw[end + 1 : end + 21]
        if mode == b"40000":
            sha = bytes.fromhex(_rewrite_modes(repo, sha.hex(), modes))
        out += modes.get(mode, mode) + raw[space : end + 1] + sha
        at = end + 21
    return repo.git_input(out, "hash-object", "-t", "tree", "--literally", "-w", "--stdin")


def test_modes_old_tools_wrote_are_read_as_git_reads_them(tmp_path: Path) -> None:
    repo = make(tmp_path)
    (repo.root / "sub" / "a b" / "run.sh").write_text("#!/bin/sh\n")
    (repo.root / "sub" / "a b" / "run.sh").chmod(0o755)
    repo.git("add", "-A")
    repo.commit("a script")
    padded = _rewrite_modes(
        repo, repo.git("rev-parse", "HEAD^{tree}"), {b"40000": b"040000", b"100644": b"100664"}
    )
    repo.git("update-ref", "HEAD", repo.git("commit-tree", padded, "-p", "HEAD", "-m", "padded modes"))
    snapshot = GitSource(SourceSpec(str(repo.root), path="sub"), tmp_path / "home").snapshot()
    part = snapshot.part_tree([""], ["a b"])
    assert part is not None
    whole = snapshot.tree
    assert list(part.files()) == sorted(["root.txt", *(p for p in whole.files() if p.startswith("a b/"))])
    assert {p: part.mode(p) for p in part.files()} == {p: whole.mode(p) for p in part.files()}
    assert part.mode("a b/run.sh") == "100755" and part.mode("a b/f.txt") == "100644"

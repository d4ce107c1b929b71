"""Every `COPY` source of deploy/Dockerfile exists and survives deploy/Dockerfile.dockerignore.

The filter is read with Docker's rules (moby/patternmatcher, as BuildKit and buildah apply them):
one pattern a line, `#` comments, a leading `!` re-includes, each pattern cleaned like a path and
matched per Go `filepath.Match` (`*` and `?` stop at `/`, `[...]` classes) plus `**` for any number
of directories; the last pattern that matches a path or one of its parent directories decides.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass

import pytest

from tests.deploy.surface import DEPLOY, REPO

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
# The files an image needs from a copied package directory.
PACKAGE_FILES = ("*.py", "py.typed")


@dataclass(frozen=True)
class Pattern:
    regex: re.Pattern[str]
    exclusion: bool  # a `!` pattern: what it matches is sent after all


def _translate(pattern: str) -> str:
    """A cleaned pattern as a regular expression, the way moby/patternmatcher compiles it."""
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1  # `**/` is `**`
            out.append(".*" if i == len(pattern) else "(.*/)?")
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out.append("[^" + body[1:] + "]" if body.startswith("^") else "[" + body + "]")
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join([*out, "$"])


def parse_dockerignore(text: str) -> list[Pattern]:
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        cleaned = posixpath.normpath(line)
        if len(cleaned) > 1 and cleaned.startswith("/"):
            cleaned = cleaned[1:]
        patterns.append(Pattern(re.compile(_translate(cleaned), re.S), exclusion))
    return patterns


def is_excluded(path: str, patterns: list[Pattern]) -> bool:
    """Docker's `MatchesOrParentMatches`: a pattern matching a parent directory matches its
    contents; the last matching pattern wins."""
    cleaned = posixpath.normpath(path)
    parts = cleaned.split("/")
    candidates = [cleaned, *("/".join(parts[: n + 1]) for n in range(len(parts) - 1))]
    excluded = False
    for pattern in patterns:
        if any(pattern.regex.match(candidate) for candidate in candidates):
            excluded = not pattern.exclusion
    return excluded


def copy_sources(dockerfile: str) -> list[str]:
    """The context paths `COPY`/`ADD` read (those from another stage, `--from=`, excluded)."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    sources: list[str] = []
    for line in joined.splitlines():
        words = line.strip().split(None, 1)
        if len(words) < 2 or words[0].upper() not in ("COPY", "ADD"):
            continue
        rest = words[1].strip()
        flags = re.findall(r"--[\w-]+(?:=\S*)?", rest.split("[", 1)[0])
        if any(flag.startswith("--from=") for flag in flags):
            continue
        rest = re.sub(r"^(?:--[\w-]+(?:=\S*)?\s+)*", "", rest)
        arguments = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        sources.extend(arguments[:-1])
    return sources


def _named(source: str) -> list[str]:
    """The repository paths a COPY source names (it may hold wildcards)."""
    path = posixpath.normpath(source)
    if not any(magic in path for magic in "*?["):
        return [path] if (REPO / path).exists() else []
    return sorted(str(p.relative_to(REPO)) for p in REPO.glob(path))


def _context_files(path: str) -> list[str]:
    """A named path, and for a directory the package files under it."""
    target = REPO / path
    found = (
        {p for pattern in PACKAGE_FILES for p in target.rglob(pattern)}
        if target.is_dir()
        else set()
    )
    return [path, *sorted(str(p.relative_to(REPO)) for p in found if "__pycache__" not in p.parts)]


@pytest.mark.parametrize(
    ("ignore", "path", "excluded"),
    [
        ("*\n!engine/\n", "engine/cli.py", False),
        ("*\n!engine/\n", "setup.py", True),
        ("*\n!engine/\n", "tests/test_cli.py", True),
        ("*\n!README.md\n", "./README.md", False),
        ("**/__pycache__\n", "engine/service/__pycache__/x.pyc", True),
        ("**/__pycache__\n", "__pycache__/x.pyc", True),
        ("**/*.pyc\n", "a/b/c.pyc", True),
        ("**/*.pyc\n", "a/b/c.py", False),
        ("docs\n!docs/keep.md\n", "docs/keep.md", False),
        ("docs\n!docs/keep.md\n", "docs/other.md", True),
        ("!docs/keep.md\ndocs\n", "docs/keep.md", True),  # the last match wins
        ("/build/\n", "build/out.txt", True),
        ("*.md\n", "docs/guide.md", False),  # `*` stops at `/`
        ("*/*.md\n", "docs/guide.md", True),
        ("file?.txt\n", "file1.txt", True),
        ("file?.txt\n", "file10.txt", False),
        ("file[0-4].txt\n", "file3.txt", True),
        ("file[^0-4].txt\n", "file3.txt", False),
        ("# a comment\n\nx/../y\n", "y/z", True),
    ],
)
def test_the_matcher_follows_docker(ignore: str, path: str, excluded: bool) -> None:
    assert is_excluded(path, parse_dockerignore(ignore)) is excluded


def test_the_copy_reader_skips_other_stages() -> None:
    dockerfile = (
        "FROM x AS build\nCOPY a b ./\nCOPY --chown=1:1 c \\\n  d/\n"
        'COPY ["e f", "g"]\nCOPY --from=build /opt /opt\nRUN cp h i\n'
    )
    assert copy_sources(dockerfile) == ["a", "b", "c", "e f"]


def test_every_copy_source_exists_and_survives_the_context_filter() -> None:
    sources = copy_sources(DOCKERFILE.read_text())
    assert sources, "deploy/Dockerfile copies nothing from the build context"
    missing = sorted(source for source in sources if not _named(source))
    assert missing == [], f"COPY sources not in the repository: {missing}"
    patterns = parse_dockerignore(DOCKERIGNORE.read_text())
    filtered = sorted(
        path
        for source in sources
        for named in _named(source)
        for path in _context_files(named)
        if is_excluded(path, patterns)
    )
    assert filtered == [], f"COPY sources left out of the build context: {filtered}"

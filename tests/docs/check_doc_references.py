#!/usr/bin/env python3
"""Fails when a tracked file cites a document that is not in the repository.

Someone who clones the repository must be able to follow every reference a comment or a
document makes. So, in every tracked text file (this script excepted, since it has to spell
what it refuses):

  - a path to a Markdown document (`something.md`) must name a tracked file: relative to the
    citing file's folder, to the repository root, or, for a bare name, in docs/ or at the root;
  - references to the old out-of-tree notes are refused outright: the `shared/` folder and the
    two *-NOTES documents (their facts now live in docs/);
  - a citation `FILE.md "Heading"` (the form code comments use, e.g. `docs/DESIGN.md` followed by
    a quoted section title) must name an existing heading of that file; the quoted title may
    continue on the next comment line;
  - in Markdown files, a link `FILE.md#anchor` or `#anchor` must match a heading of the target
    (GitHub's anchor rules).

Usage: check_doc_references.py [--root DIR] [--rev REV]
  --root DIR  the repository (default: the one this script is in)
  --rev REV   check the tree of commit REV instead of the working tree (e.g. to show that the
              check fails on an older commit)
Exit status 0 when every reference resolves, 1 otherwise (one line per problem), 2 on usage
errors, 77 (ctest's "skipped") when DIR is not a git checkout (an unpacked source archive):
the check needs the list of tracked files.
"""

import argparse
import os
import posixpath
import re
import subprocess
import sys

SELF = "tests/docs/check_doc_references.py"

# Refused wherever they appear. The look-behind keeps "libsystemd-shared/" and the like out.
FORBIDDEN = [
    (re.compile(r"(?<![\w-])shared/"), "cites the out-of-tree shared/ folder"),
    (re.compile(r"QEMU-NOTES"), "cites an out-of-tree notes document (QEMU facts: docs/E2E.md)"),
    (re.compile(r"DBUS-NOTES"), "cites an out-of-tree notes document (bus facts: docs/DBUS.md)"),
]

# A Markdown document's path as it appears in text: the characters of PATH_CHARS before a
# ".md" that no letter or digit follows. Leading '_' or '*' (Markdown or scdoc emphasis) is
# stripped afterwards.
MD_SUFFIX = re.compile(r"\.md(?![A-Za-z0-9])")
NAME_END = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
PATH_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./-")
# What follows the path in a citation `FILE.md "Heading"`; the heading may go on after a line
# break and a comment marker.
CITED_HEADING = re.compile(
    r"[ \t]+\"([^\"\n]+(?:\n[ \t]*(?://+|#+|\*|--|;+)?[ \t]*[^\"\n]*)?)\""
)
# Markdown link targets: ](target) with an anchor.
LINK_ANCHOR = re.compile(r"\]\(([^)\s#]*)#([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
FENCE = re.compile(r"^[ \t]*(```|~~~)")


def run_git(root, *args):
    return subprocess.run(
        ["git", "-C", root, *args], check=True, capture_output=True
    ).stdout


def load_files(root, rev):
    """{path: text} of every tracked text file."""
    if rev:
        names = run_git(root, "ls-tree", "-r", "-z", "--name-only", rev).decode().split("\0")
    else:
        names = run_git(root, "ls-files", "-z").decode().split("\0")
    names = [n for n in names if n]
    files = {}
    if rev:
        # One git process for every blob.
        request = "".join(f"{rev}:{n}\n" for n in names).encode()
        out = subprocess.run(
            ["git", "-C", root, "cat-file", "--batch"],
            input=request, check=True, capture_output=True,
        ).stdout
        pos = 0
        for name in names:
            header_end = out.index(b"\n", pos)
            header = out[pos:header_end].split()
            pos = header_end + 1
            if len(header) < 3 or header[1] != b"blob":
                continue  # a submodule or a missing entry
            size = int(header[2])
            files[name] = out[pos:pos + size]
            pos += size + 1
    else:
        for name in names:
            path = os.path.join(root, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    files[name] = f.read()
    text = {}
    for name, data in files.items():
        if b"\0" in data:
            continue
        try:
            text[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return text


def slug(heading, seen):
    """GitHub's anchor for a heading (duplicates get -1, -2, ...)."""
    s = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
    n = seen.get(s, 0)
    seen[s] = n + 1
    return s if n == 0 else f"{s}-{n}"


def headings_of(text):
    """(the heading texts, their anchors) of a Markdown document, code blocks skipped."""
    titles, anchors, seen = set(), set(), {}
    in_fence = False
    for line in text.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        m = HEADING.match(line)
        if m:
            title = m.group(2)
            titles.add(title)
            anchors.add(slug(title, seen))
    return titles, anchors


def line_of(text, offset):
    return text.count("\n", 0, offset) + 1


def normalize(heading):
    heading = re.sub(r"\n[ \t]*(?://+|#+|\*|--|;+)?[ \t]*", " ", heading)
    return re.sub(r"\s+", " ", heading).strip()


def resolve(token, citing, tracked):
    """The tracked document `token` names from file `citing`, or None."""
    token = token.lstrip("_*")
    if token.startswith("./"):
        token = token[2:]
    candidates = []
    if "/" in token:
        candidates.append(posixpath.normpath(posixpath.join(posixpath.dirname(citing), token)))
        candidates.append(posixpath.normpath(token))
    else:
        candidates += [posixpath.join(posixpath.dirname(citing), token), "docs/" + token, token]
    for c in candidates:
        if not c.startswith("../") and c in tracked:
            return c
    return None


def check(files):
    problems = []
    heading_cache = {}

    def headings(doc):
        if doc not in heading_cache:
            heading_cache[doc] = headings_of(files.get(doc, ""))
        return heading_cache[doc]

    tracked = set(files)
    for name in sorted(files):
        if name == SELF:
            continue
        text = files[name]
        for pattern, why in FORBIDDEN:
            for m in pattern.finditer(text):
                problems.append(f"{name}:{line_of(text, m.start())}: {why}: '{m.group(0)}'")
        for m in MD_SUFFIX.finditer(text):
            start = m.start()
            if start == 0 or text[start - 1] not in NAME_END:
                continue  # ".md" alone, as in "every .md file"
            while start > 0 and text[start - 1] in PATH_CHARS:
                start -= 1
            token = text[start:m.end()]
            if token.startswith("//"):
                continue  # the path part of a URL (https://...)
            if start > 0 and text[start - 1] in "$}" and "/" in token:
                token = token.split("/", 1)[1]  # "$source_dir/README.md": from the root
            doc = resolve(token, name, tracked)
            if doc is None:
                problems.append(
                    f"{name}:{line_of(text, start)}: '{token}' is not a document in the "
                    "repository (cite docs/FILE.md or README.md)"
                )
                continue
            cited = CITED_HEADING.match(text, m.end())
            if cited:
                title = normalize(cited.group(1))
                if title not in headings(doc)[0]:
                    problems.append(
                        f"{name}:{line_of(text, start)}: {doc} has no heading \"{title}\""
                    )
        if name.endswith(".md"):
            for m in LINK_ANCHOR.finditer(text):
                target, anchor = m.group(1), m.group(2)
                if target.startswith(("http://", "https://")):
                    continue
                doc = name if target == "" else resolve(target, name, tracked)
                if doc is None or not doc.endswith(".md"):
                    continue  # a missing file is reported above; anchors of others unchecked
                if anchor not in headings(doc)[1]:
                    problems.append(
                        f"{name}:{line_of(text, m.start())}: {doc} has no heading with the "
                        f"anchor #{anchor}"
                    )
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    parser.add_argument("--rev")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    inside = subprocess.run(["git", "-C", root, "rev-parse", "--is-inside-work-tree"],
                            capture_output=True, text=True)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        print(f"check_doc_references: SKIP: {root} is not a git checkout", file=sys.stderr)
        return 77
    try:
        files = load_files(root, args.rev)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        print(f"check_doc_references: cannot list the files of {root}: {e}", file=sys.stderr)
        return 2
    problems = check(files)
    for p in problems:
        print(p)
    where = f"commit {args.rev}" if args.rev else root
    if problems:
        print(f"check_doc_references: {len(problems)} reference(s) in {where} do not resolve "
              "inside the repository", file=sys.stderr)
        return 1
    print(f"check_doc_references: {len(files)} files of {where}: every document reference "
          "resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())

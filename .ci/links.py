#!/usr/bin/env python3
"""Checks the links of the project's Markdown documents: every relative link resolves to a
file of the checkout, and every anchor (`#section`, `page.md#section`) to a heading of the
page it names, as GitHub spells heading anchors (lower case, punctuation dropped, spaces as
hyphens, repeats numbered -1, -2, ...). External links (http, https, mailto) are not
fetched. Exits 1 naming each broken link with its file and line.

Usage: links.py [FILE_OR_FOLDER ...]   (default: README.md and docs/)
"""

import os
import re
import sys
import unicodedata

LINK = re.compile(r"(?<!\!)\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
IMAGE = re.compile(r"!\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def slug(text):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"`([^`]*)`", r"\1", text)          # code spans keep their text
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text)              # inline HTML goes
    text = text.strip().lower()
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in " -":
            out.append("-" if ch == " " else ch)
        elif ch == "_" or cat[0] in "LN":
            out.append(ch)
        # everything else (punctuation, symbols) is dropped
    return "".join(out)


def lines_outside_fences(text):
    """(line number, line) of the lines that are not inside a fenced code block."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def anchors(path, cache={}):
    if path not in cache:
        seen = {}
        found = set()
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for _, line in lines_outside_fences(text):
            m = HEADING.match(line)
            if m:
                base = slug(m.group(2))
                n = seen.get(base, 0)
                seen[base] = n + 1
                found.add(base if n == 0 else f"{base}-{n}")
            for a in HTML_ANCHOR.findall(line):
                found.add(a)
        cache[path] = found
    return cache[path]


def markdown_files(args):
    for arg in args:
        if os.path.isdir(arg):
            for root, _, files in os.walk(arg):
                for name in sorted(files):
                    if name.endswith(".md"):
                        yield os.path.join(root, name)
        elif os.path.exists(arg):
            yield arg
        else:
            print(f"links.py: {arg} does not exist", file=sys.stderr)
            sys.exit(1)


def check(path):
    broken = []
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for number, line in lines_outside_fences(text):
        # Inline code is not a link.
        line = re.sub(r"`[^`]*`", "", line)
        targets = LINK.findall(line) + IMAGE.findall(line)
        m = REFERENCE.match(line)
        if m:
            targets.append(m.group(1))
        for target in targets:
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                continue  # http:, https:, mailto:
            file_part, _, anchor = target.partition("#")
            if file_part:
                resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part))
                if not os.path.exists(resolved):
                    broken.append(f"{path}:{number}: `{target}`: {resolved} does not exist")
                    continue
            else:
                resolved = path
            if anchor:
                if not resolved.endswith(".md"):
                    continue
                if anchor not in anchors(resolved):
                    broken.append(f"{path}:{number}: `{target}`: no heading #{anchor} in {resolved}")
    return broken


def main():
    args = sys.argv[1:] or ["README.md", "docs"]
    args = [a for a in args if a != "docs" or os.path.isdir("docs")] if not sys.argv[1:] else args
    files = list(markdown_files(args))
    broken = [b for f in files for b in check(f)]
    for b in broken:
        print(b)
    if broken:
        print(f"{len(broken)} broken link(s) in {len(files)} file(s)", file=sys.stderr)
        sys.exit(1)
    print(f"links: {len(files)} Markdown file(s), every relative link and anchor resolves")


if __name__ == "__main__":
    main()

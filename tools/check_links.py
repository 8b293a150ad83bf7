#!/usr/bin/env python3
"""Checks that every relative markdown link of the project's docs resolves to an existing file
(and, for `file.md#anchor` links, to a heading of that file).

    python3 tools/check_links.py [ROOT]      # exit status 1 if any link is broken
"""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..')
files = ['README.md', 'benches/README.md', 'kernels/README.md', 'ffi/README.md', 'fuzz/README.md']
files += sorted(glob.glob('docs/*.md', root_dir=root)) + sorted(glob.glob('docs/results/*.md', root_dir=root))
# Link text may run over a line break; the target may not contain spaces.
LINK = re.compile(r'\[([^\]]*)\]\(([^)\s]+)\)')


def slug(heading):
    h = heading.strip().lower()
    h = re.sub(r'[^\w\- ]', '', h)
    return h.replace(' ', '-')


def prose(path):
    """The file with fenced code blocks blanked out (line numbers kept)."""
    out, fence = [], False
    for line in open(path, encoding='utf-8'):
        if line.startswith('```'):
            fence = not fence
            out.append('\n')
        else:
            out.append('\n' if fence else line)
    return ''.join(out)


def anchors(path):
    return {slug(l.lstrip('#')) for l in prose(path).split('\n') if l.startswith('#')}


checked = broken = 0
for f in files:
    p = os.path.join(root, f)
    if not os.path.exists(p):
        continue
    text = prose(p)
    for m in LINK.finditer(text):
        target = m.group(2)
        if re.match(r'^[a-z]+:', target):
            continue
        checked += 1
        line = text.count('\n', 0, m.start()) + 1
        path, _, anchor = target.partition('#')
        dest = os.path.normpath(os.path.join(os.path.dirname(p), path)) if path else p
        if not os.path.exists(dest):
            print(f'{f}:{line}: missing {target}')
            broken += 1
        elif anchor and dest.endswith('.md') and anchor not in anchors(dest):
            print(f'{f}:{line}: no heading for {target}')
            broken += 1
print(f'{checked} relative links checked, {broken} broken')
sys.exit(1 if broken else 0)

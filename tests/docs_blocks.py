"""The fenced code blocks of a documentation page, and the directive before each.

``tests/docs_runner.py`` runs them; ``tests/test_docs.py`` checks them. A
directive is an HTML comment on the line just before a fence, invisible on the
site: ``<!-- docs: skip REASON -->``, ``<!-- docs: pytest -->``,
``<!-- docs: file NAME -->``, ``<!-- docs: background -->``,
``<!-- docs: exit N -->`` (the runner's docstring says what each does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNNABLE = {"python", "py", "bash", "sh", "console"}
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<lang>[\w+-]*)(?P<rest>.*)$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*docs:\s*(?P<word>[\w-]+)\s*(?P<arg>.*?)\s*-->\s*$")


@dataclass
class Block:
    """One fenced code block of a page."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    directive: str = ""
    argument: str = ""

    @property
    def where(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"


def read_blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown page, with the directive just before it, if any."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, fence = match["indent"], match["fence"]
        directive = _DIRECTIVE.match(lines[index - 1]) if index else None
        body: list[str] = []
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            body.append(lines[end][len(indent) :] if lines[end].startswith(indent) else lines[end])
            end += 1
        blocks.append(
            Block(
                path=path,
                line=index + 1,
                lang=match["lang"].lower(),
                text="\n".join(body) + "\n",
                directive=directive["word"] if directive else "",
                argument=directive["arg"] if directive else "",
            )
        )
        index = end + 1
    return blocks


def runnable(block: Block) -> bool:
    if block.directive == "skip":
        if not block.argument:
            raise ValueError(f"{block.where}: `docs: skip` needs a reason")
        return False
    return block.lang in RUNNABLE or block.directive == "file"

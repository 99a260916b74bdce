"""MkDocs hook: let `$$ ... $$` display math sit inside a paragraph, as the docstrings write it.

pymdownx.arithmatex reads `$$ ... $$` as display math only when it is a block of its own
(blank lines around it); a docstring that writes

    With the Eulerian strain $f = ...$,
    $$E(V) = E_0 + ...$$
    At ...

gets a stray `$` on each side and inline math between. This hook adds a Markdown
preprocessor, for the pages and for mkdocstrings' docstrings alike, that puts blank lines
around a display block which opens at the start of a line and closes at the end of one.
Fenced code is stashed before it runs, so code is never touched.
"""

from __future__ import annotations

from markdown import Extension
from markdown.preprocessors import Preprocessor
from mkdocs.plugins import event_priority


class _SplitDisplayMath(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        inside = False
        for line in lines:
            text = line.strip()
            opens = not inside and text.startswith("$$")
            if opens and out and out[-1].strip():
                out.append("")
            out.append(line)
            if opens or inside:
                # the block is closed on this line when its count of `$$` is even (opened
                # here) or odd (opened on an earlier line); close only at the end of a line
                count = text.count("$$")
                closes = (count % 2 == 0) if opens else (count % 2 == 1)
                inside = not (closes and text.endswith("$$"))
                if not inside:
                    out.append("")
        return out


class MathBlocks(Extension):
    def extendMarkdown(self, md):  # noqa: N802 (Python-Markdown's name)
        # after the fenced-code preprocessors (priority 25-30) have stashed the code
        md.preprocessors.register(_SplitDisplayMath(md), "pinnloss_display_math", 15)


@event_priority(100)  # before mkdocstrings reads the Markdown extensions in its on_config
def on_config(config):
    config.markdown_extensions.append(MathBlocks())
    return config

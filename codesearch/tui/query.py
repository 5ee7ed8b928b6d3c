"""The TUI's query syntax: free text plus `lang:go kind:function path:src/**` tokens.

Pure functions, no Textual: the app parses what is typed, then merges in what the
filter widgets say, and hands the result to `Searcher.search`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

# What people type for a language, mapped to the name the index stores.
LANGUAGE_ALIASES = {
    "py": "python", "js": "javascript", "ts": "typescript", "golang": "go", "rs": "rust",
    "c++": "cpp", "cxx": "cpp", "c#": "csharp", "cs": "csharp", "rb": "ruby", "sh": "bash",
    "shell": "bash", "md": "markdown", "yml": "yaml",
}
KIND_ALIASES = {"fn": "function", "func": "function", "def": "function", "meth": "method",
                "cls": "class", "struct": "type", "doc": "section"}
_KEYS = {"lang": "languages", "language": "languages", "kind": "kinds", "path": "glob",
         "glob": "glob"}
# A token starts a word; its value is a double-quoted string or runs to the next space.
_TOKEN = re.compile(r'(?<!\S)(lang|language|kind|path|glob):(?:"([^"]*)"?|(\S*))', re.IGNORECASE)


@dataclass(frozen=True)
class ParsedQuery:
    """What to search for and where; empty tuples and None mean no restriction."""

    text: str
    languages: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    glob: str | None = None

    def with_filters(self, language: str | None, kind: str | None,
                     glob: str | None) -> ParsedQuery:
        """Merge in the filter widgets: lists add up, a `path:` token beats the glob box."""
        return replace(
            self,
            languages=_added(self.languages, language),
            kinds=_added(self.kinds, kind),
            glob=self.glob or (glob.strip() if glob and glob.strip() else None),
        )


def parse_query(query: str) -> ParsedQuery:
    """Split `query` into free text and filter tokens.

    >>> parse_query("retry lang:py,go path:src/** kind:fn")
    ParsedQuery(text='retry', languages=('python', 'go'), kinds=('function',), glob='src/**')

    A token with no value yet (`lang:` while typing) is dropped, not searched for.
    """
    found: dict[str, list[str]] = {"languages": [], "kinds": [], "glob": []}
    for match in _TOKEN.finditer(query):
        field = _KEYS[match.group(1).lower()]
        value = match.group(2) if match.group(2) is not None else match.group(3)
        if field == "glob":
            if value:
                found["glob"].append(value)
            continue
        for item in value.split(","):
            item = item.strip().lower()
            if item:
                aliases = LANGUAGE_ALIASES if field == "languages" else KIND_ALIASES
                found[field].append(aliases.get(item, item))
    text = " ".join(_TOKEN.sub(" ", query).split())
    return ParsedQuery(
        text=text,
        languages=tuple(dict.fromkeys(found["languages"])),
        kinds=tuple(dict.fromkeys(found["kinds"])),
        glob=found["glob"][-1] if found["glob"] else None,
    )


def _added(values: tuple[str, ...], extra: str | None) -> tuple[str, ...]:
    return values if not extra or extra in values else (*values, extra)

"""Which language a file is in, decided by its name alone (no content sniffing here)."""

from __future__ import annotations

from pathlib import PurePosixPath

# Languages chunked by tree-sitter: each has a grammar wheel and a spec in parse.py.
CODE_LANGUAGES = (
    "python", "javascript", "typescript", "tsx", "go", "rust", "java",
    "c", "cpp", "csharp", "ruby", "php", "bash",
)
# Prose split into sections by headings.
DOC_LANGUAGES = ("markdown", "rst", "text")

_BY_EXTENSION = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp",
    ".hh": "cpp", ".hpp": "cpp", ".hxx": "cpp", ".h++": "cpp", ".ipp": "cpp",
    ".cs": "csharp",
    ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby",
    ".php": "php",
    ".sh": "bash", ".bash": "bash", ".zsh": "bash",
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".rst": "rst",
    ".txt": "text", ".text": "text",
    # Text files without a chunking grammar: indexed as line windows.
    ".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json",
    ".ini": "ini", ".cfg": "ini", ".html": "html", ".htm": "html", ".css": "css",
    ".scss": "css", ".sql": "sql", ".kt": "kotlin", ".kts": "kotlin", ".swift": "swift",
    ".scala": "scala", ".lua": "lua", ".pl": "perl", ".pm": "perl", ".r": "r",
    ".dart": "dart", ".ex": "elixir", ".exs": "elixir", ".erl": "erlang", ".hs": "haskell",
    ".ml": "ocaml", ".clj": "clojure", ".vue": "vue", ".svelte": "svelte", ".proto": "protobuf",
    ".xml": "xml", ".gradle": "gradle", ".cmake": "cmake", ".mk": "make", ".tf": "terraform",
}
_BY_NAME = {
    "makefile": "make", "gnumakefile": "make", "dockerfile": "dockerfile",
    "rakefile": "ruby", "gemfile": "ruby", "readme": "text", "license": "text",
    "changelog": "text", "cmakelists.txt": "cmake", "justfile": "make",
}
KNOWN_LANGUAGES = frozenset(_BY_EXTENSION.values()) | frozenset(_BY_NAME.values())


def language_for_path(path: str) -> str | None:
    """The language of a repo-relative path, or None when we do not index that kind of file."""
    p = PurePosixPath(path)
    name = p.name.lower()
    if name in _BY_NAME:
        return _BY_NAME[name]
    return _BY_EXTENSION.get(p.suffix.lower())

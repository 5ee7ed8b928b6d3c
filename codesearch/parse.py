"""Tree-sitter side of chunking: grammars, cached parsers, and one walk that finds definitions.

Each language is described by a `LanguageSpec` (which node types define what, which
wrap a definition, which are comments); a single generic walk over module and
container bodies turns a syntax tree into `Definition`s. Function bodies are never
entered, so the walk touches a small fraction of the tree.
"""

from __future__ import annotations

import importlib
import inspect
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple

from tree_sitter import Language, Node, Parser

# Roles a definition node plays in a spec. FUNCTION becomes "function" or "method" by
# context; STRUCT becomes "class" when it holds methods, else "type"; NAMESPACE and IMPL
# only qualify the names inside them (IMPL also makes its functions methods).
FUNCTION = "function"
CLASS = "class"
TYPE = "type"
STRUCT = "struct"
NAMESPACE = "namespace"
IMPL = "impl"
# Kind of a wrapper holding several definitions (Go `type ( A int; B string )`).
GROUP = "group"

# Definition kinds that never become chunks of their own.
CONTAINER_ONLY_KINDS = frozenset({NAMESPACE, IMPL, GROUP})

MAX_SIGNATURE_CHARS = 200

# Grammar wheels: language -> (module, function returning the language pointer).
_GRAMMARS = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "csharp": ("tree_sitter_c_sharp", "language"),
    "ruby": ("tree_sitter_ruby", "language"),
    "php": ("tree_sitter_php", "language_php"),
    "bash": ("tree_sitter_bash", "language"),
}


@dataclass(frozen=True)
class LanguageSpec:
    """What the generic walk needs to know about one grammar."""

    definitions: dict[str, str]  # node type -> role (FUNCTION, CLASS, ...)
    comments: frozenset[str]  # comment node types; their text becomes the doc
    # Node types that wrap exactly one definition (decorators, `export`, `template<>`);
    # the flag says whether the wrapper's own text starts the signature.
    wrappers: dict[str, bool] = field(default_factory=dict)
    # Non-comment nodes that precede a definition and belong to its span (decorators, attributes).
    attributes: frozenset[str] = frozenset()
    # Node types whose children are walked as if they were siblings (preprocessor blocks, ...).
    transparent: frozenset[str] = frozenset()
    # Definition types that only count with a body: forward declarations and abstract methods.
    needs_body: frozenset[str] = frozenset()
    # Values that turn a variable declarator into a function (`const f = () => {}`).
    function_values: frozenset[str] = frozenset()
    # Bodiless namespaces that scope the siblings after them (`namespace Foo;`).
    sibling_namespaces: frozenset[str] = frozenset()
    python_docstrings: bool = False  # docs come from the body's first string
    receivers: bool = False  # Go: methods are qualified by their receiver type

    @property
    def leading(self) -> frozenset[str]:
        return self.comments | self.attributes


_C_TRANSPARENT = frozenset(
    {"preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef"}
)
_C_DEFINITIONS = {
    "function_definition": FUNCTION,
    "struct_specifier": TYPE,
    "union_specifier": TYPE,
    "enum_specifier": TYPE,
    "type_definition": TYPE,
}
_C_NEEDS_BODY = frozenset(
    {"struct_specifier", "union_specifier", "enum_specifier", "type_definition"}
)
_JS_DEFINITIONS = {
    "function_declaration": FUNCTION,
    "generator_function_declaration": FUNCTION,
    "class_declaration": CLASS,
    "method_definition": FUNCTION,
    "variable_declarator": FUNCTION,
}
_JS_WRAPPERS = {"export_statement": True, "lexical_declaration": True, "variable_declaration": True}
_JS_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "generator_function"})
_TS_SPEC = LanguageSpec(
    definitions={
        **_JS_DEFINITIONS,
        "abstract_class_declaration": CLASS,
        "interface_declaration": TYPE,
        "type_alias_declaration": TYPE,
        "enum_declaration": TYPE,
        "internal_module": NAMESPACE,
        "module": NAMESPACE,
    },
    comments=frozenset({"comment"}),
    wrappers={**_JS_WRAPPERS, "ambient_declaration": True, "expression_statement": True},
    attributes=frozenset({"decorator"}),
    function_values=_JS_FUNCTION_VALUES,
)

SPECS: dict[str, LanguageSpec] = {
    "python": LanguageSpec(
        definitions={"function_definition": FUNCTION, "class_definition": CLASS},
        comments=frozenset({"comment"}),
        wrappers={"decorated_definition": False},
        python_docstrings=True,
    ),
    "javascript": LanguageSpec(
        definitions=_JS_DEFINITIONS,
        comments=frozenset({"comment"}),
        wrappers=_JS_WRAPPERS,
        attributes=frozenset({"decorator"}),
        function_values=_JS_FUNCTION_VALUES,
    ),
    "typescript": _TS_SPEC,
    "tsx": _TS_SPEC,
    "go": LanguageSpec(
        definitions={
            "function_declaration": FUNCTION,
            "method_declaration": FUNCTION,
            "type_spec": TYPE,
        },
        comments=frozenset({"comment"}),
        wrappers={"type_declaration": True},
        receivers=True,
    ),
    "rust": LanguageSpec(
        definitions={
            "function_item": FUNCTION,
            "macro_definition": FUNCTION,
            "struct_item": TYPE,
            "enum_item": TYPE,
            "union_item": TYPE,
            "trait_item": TYPE,
            "type_item": TYPE,
            "impl_item": IMPL,
            "mod_item": NAMESPACE,
        },
        comments=frozenset({"line_comment", "block_comment"}),
        attributes=frozenset({"attribute_item"}),
        needs_body=frozenset({"mod_item"}),
    ),
    "java": LanguageSpec(
        definitions={
            "class_declaration": CLASS,
            "record_declaration": CLASS,
            "interface_declaration": TYPE,
            "annotation_type_declaration": TYPE,
            "enum_declaration": TYPE,
            "method_declaration": FUNCTION,
            "constructor_declaration": FUNCTION,
            "compact_constructor_declaration": FUNCTION,
        },
        comments=frozenset({"line_comment", "block_comment"}),
        transparent=frozenset({"enum_body_declarations"}),
        needs_body=frozenset({"method_declaration"}),
    ),
    "c": LanguageSpec(
        definitions=_C_DEFINITIONS,
        comments=frozenset({"comment"}),
        transparent=_C_TRANSPARENT,
        needs_body=_C_NEEDS_BODY,
    ),
    "cpp": LanguageSpec(
        definitions={
            **_C_DEFINITIONS,
            "class_specifier": CLASS,
            "struct_specifier": STRUCT,
            "namespace_definition": NAMESPACE,
        },
        comments=frozenset({"comment"}),
        wrappers={"template_declaration": True},
        transparent=_C_TRANSPARENT | {"linkage_specification"},
        needs_body=_C_NEEDS_BODY | {"class_specifier", "function_definition"},
    ),
    "csharp": LanguageSpec(
        definitions={
            "class_declaration": CLASS,
            "record_declaration": CLASS,
            "struct_declaration": STRUCT,
            "interface_declaration": TYPE,
            "enum_declaration": TYPE,
            "method_declaration": FUNCTION,
            "constructor_declaration": FUNCTION,
            "destructor_declaration": FUNCTION,
            "operator_declaration": FUNCTION,
            "namespace_declaration": NAMESPACE,
            "file_scoped_namespace_declaration": NAMESPACE,
        },
        comments=frozenset({"comment"}),
        needs_body=frozenset({"method_declaration", "operator_declaration"}),
        sibling_namespaces=frozenset({"file_scoped_namespace_declaration"}),
    ),
    "ruby": LanguageSpec(
        definitions={
            "method": FUNCTION,
            "singleton_method": FUNCTION,
            "class": CLASS,
            "module": IMPL,
        },
        comments=frozenset({"comment"}),
        transparent=frozenset({"singleton_class"}),
    ),
    "php": LanguageSpec(
        definitions={
            "function_definition": FUNCTION,
            "method_declaration": FUNCTION,
            "class_declaration": CLASS,
            "interface_declaration": TYPE,
            "trait_declaration": TYPE,
            "enum_declaration": TYPE,
            "namespace_definition": NAMESPACE,
        },
        comments=frozenset({"comment"}),
        needs_body=frozenset({"method_declaration"}),
        sibling_namespaces=frozenset({"namespace_definition"}),
    ),
    "bash": LanguageSpec(
        definitions={"function_definition": FUNCTION},
        comments=frozenset({"comment"}),
    ),
}


@dataclass
class Definition:
    """One definition found in a file, with the definitions nested in its body."""

    kind: str  # function, method, class, type; or namespace, impl, group (no chunk of their own)
    name: str
    symbol: str  # qualified, e.g. "Outer.Inner.method"
    parent: str  # symbol of the enclosing definition, or ""
    start_byte: int  # start of the span's first line (leading comments and decorators included)
    end_byte: int
    start_line: int  # 1-based, inclusive, span incl. leading comments
    end_line: int
    header_line: int  # 1-based line where the definition itself (not its comments) starts
    header_byte: int  # byte where the definition itself starts
    signature: str = ""
    doc: str = ""
    body_start: int = -1  # byte range of the body, -1 when there is none
    body_end: int = -1
    children: list[Definition] = field(default_factory=list)


@dataclass
class ParseResult:
    definitions: list[Definition]
    has_error: bool  # the tree contains ERROR or MISSING nodes


def supports(language: str) -> bool:
    return language in SPECS


@cache
def grammar(language: str) -> Language:
    """The tree-sitter Language of a supported language, loaded from its wheel once."""
    module_name, function_name = _GRAMMARS[language]
    module = importlib.import_module(module_name)
    return Language(getattr(module, function_name)())


_thread_state = threading.local()


def parser_for(language: str) -> Parser:
    """A Parser for `language`, one per thread (parsers are not thread-safe)."""
    parsers: dict[str, Parser] | None = getattr(_thread_state, "parsers", None)
    if parsers is None:
        parsers = _thread_state.parsers = {}
    parser = parsers.get(language)
    if parser is None:
        parser = parsers[language] = Parser(grammar(language))
    return parser


# `.h` files are mapped to C, but many are C++; a C parse with errors gets a second try.
_RETRY_GRAMMAR = {"c": "cpp"}


def parse_definitions(source: bytes, language: str) -> ParseResult:
    """Parse `source` and return its top-level definitions (each holding its nested ones)."""
    result = _parse_definitions(source, language)
    retry_language = _RETRY_GRAMMAR.get(language)
    if result.has_error and retry_language:
        retried = _parse_definitions(source, retry_language)
        if not retried.has_error:
            return retried
    return result


def _parse_definitions(source: bytes, language: str) -> ParseResult:
    tree = parser_for(language).parse(source)
    root = tree.root_node
    walker = _Walker(SPECS[language], source)
    definitions: list[Definition] = []
    walker.walk(root.children, _Scope("", False), definitions)
    return ParseResult(definitions, root.has_error)


class _Site(NamedTuple):
    """Where a definition was found: the nodes its chunk and signature are cut from."""

    outer: Node  # the outermost wrapper (decorated_definition, export_statement, ...)
    node: Node  # the definition node itself
    body: Node | None
    leading: list[Node]  # comments, decorators and attributes right above it
    signature_start: int  # byte where the signature starts


@dataclass(frozen=True)
class _Scope:
    symbol: str  # qualified name of the enclosing definition
    holds_methods: bool  # functions defined here are methods


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _last_row(node: Node) -> int:
    """The last row a node really occupies (some nodes end at column 0 of the next line)."""
    end = node.end_point
    if end.column == 0 and end.row > node.start_point.row:
        return end.row - 1
    return end.row


_NAME_SEPARATORS = re.compile(r"::|\\")


def _base_type_name(text: str) -> str:
    """`*pkg.List[T]` -> `List`, `Foo<T>` -> `Foo`: the bare name of a type expression."""
    for stop in ("<", "[", "("):
        text = text.split(stop, 1)[0]
    text = text.strip(" \t\n*&")
    text = _NAME_SEPARATORS.sub(".", text)
    return text.rsplit(".", 1)[-1].strip()


class _Walker:
    """Walks module and container bodies of one tree, collecting definitions."""

    def __init__(self, spec: LanguageSpec, source: bytes) -> None:
        self.spec = spec
        self.source = source
        self.leading_types = spec.leading

    def text(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def walk(self, nodes: Iterable[Node], scope: _Scope, out: list[Definition]) -> None:
        """Collect the definitions among sibling `nodes`, attaching leading comments."""
        spec = self.spec
        base_scope = scope
        leading: list[Node] = []
        for node in nodes:
            if not node.is_named:  # keywords and punctuation
                continue
            node_type = node.type
            if node_type in self.leading_types:
                leading = self._extend_leading(leading, node)
                continue
            if node_type in spec.transparent or node_type == "ERROR":
                self.walk(self.members(node), scope, out)
            else:
                if leading and _last_row(leading[-1]) + 1 < node.start_point.row:
                    leading = []  # a blank line between comment and definition
                new_scope = self.definition(node, leading, scope, base_scope, out)
                if new_scope is not None:
                    scope = new_scope
            leading = []

    def _extend_leading(self, leading: list[Node], node: Node) -> list[Node]:
        """Add a comment/decorator to the run that may precede the next definition."""
        prefix = self.source[node.start_byte : node.start_byte + 3]
        # Trailing comments after code, inner docs (`//!`) and shebangs document something else.
        if not self._starts_line(node) or prefix in (b"//!", b"/*!") or prefix.startswith(b"#!"):
            return []
        if leading and _last_row(leading[-1]) + 1 < node.start_point.row:
            return [node]  # a blank line breaks the run
        leading.append(node)
        return leading

    def _starts_line(self, node: Node) -> bool:
        column = node.start_point.column
        if column == 0:
            return True
        return not self.source[node.start_byte - column : node.start_byte].strip()

    def members(self, node: Node, body: Node | None = None) -> Iterator[Node]:
        """Children of a container's body, plus comments that sit beside it (Ruby puts the
        comment before a class's first method outside the body node)."""
        if body is None:
            body = node.child_by_field_name("body")
        if body is None:
            yield from node.children
            return
        if body.parent != node:  # e.g. the struct body inside a C typedef
            yield from body.children
            return
        body_start = body.start_byte
        for child in node.children:
            if child.start_byte == body_start and child.type == body.type:
                yield from body.children
            elif child.type in self.leading_types:
                yield child

    def unwrap(self, node: Node) -> tuple[Node | None, int, bool]:
        """(definition inside wrapper nodes, where its signature starts, several found).

        The definition is None when `node` holds none, or several (Go `type ( ... )`).
        """
        spec = self.spec
        signature_start = node.start_byte
        while node.type in spec.wrappers:
            candidates = [
                child
                for child in node.named_children
                if child.type in spec.definitions or child.type in spec.wrappers
            ]
            if len(candidates) != 1:
                return None, signature_start, len(candidates) > 1
            if not spec.wrappers[node.type]:
                signature_start = candidates[0].start_byte
            node = candidates[0]
        return node, signature_start, False

    def definition(
        self,
        node: Node,
        leading: list[Node],
        scope: _Scope,
        base_scope: _Scope,
        out: list[Definition],
    ) -> _Scope | None:
        """Add the definition `node` holds to `out`; return a new scope for later siblings."""
        spec = self.spec
        inner, signature_start, several = self.unwrap(node)
        if several:
            self._group(node, scope, out)
            return None
        if inner is None:
            return None
        role = spec.definitions.get(inner.type)
        if role is None:
            return None
        body = self._body(inner)
        if body is None and inner.type in spec.needs_body:
            return None
        site = _Site(node, inner, body, leading, signature_start)
        if role == FUNCTION:
            self._function(site, scope, out)
            return None
        return self._container(site, role, scope, base_scope, out)

    def _group(self, node: Node, scope: _Scope, out: list[Definition]) -> None:
        """A wrapper around several definitions: each keeps its own span and comments."""
        group = Definition(
            kind=GROUP,
            name="",
            symbol=scope.symbol,
            parent=scope.symbol,
            start_byte=node.start_byte - node.start_point.column,
            end_byte=node.end_byte,
            start_line=node.start_point.row + 1,
            end_line=_last_row(node) + 1,
            header_line=node.start_point.row + 1,
            header_byte=node.start_byte,
        )
        self.walk(node.children, scope, group.children)
        out.append(group)

    def _body(self, node: Node) -> Node | None:
        if node.type == "variable_declarator":
            value = node.child_by_field_name("value")
            if value is None or value.type not in self.spec.function_values:
                return None
            return value.child_by_field_name("body")
        body = node.child_by_field_name("body")
        if body is None and node.type == "type_definition":  # typedef struct { ... } name;
            inner_type = node.child_by_field_name("type")
            body = inner_type.child_by_field_name("body") if inner_type is not None else None
        return body

    def _function(self, site: _Site, scope: _Scope, out: list[Definition]) -> None:
        if site.body is None and site.node.type == "variable_declarator":
            return  # `const x = 1`: not a function
        parts = self._function_name_parts(site.node)
        if not parts:
            return
        # Qualified names (C++ `Foo::bar`, Go receivers) make a method even at top level.
        is_method = scope.holds_methods or len(parts) > 1
        parent = _join(scope.symbol, *parts[:-1])
        out.append(self._make(site, "method" if is_method else "function", parts[-1], parent))

    def _container(
        self, site: _Site, role: str, scope: _Scope, base_scope: _Scope, out: list[Definition]
    ) -> _Scope | None:
        node, body = site.node, site.body
        name = self._container_name(node, role)
        if not name:
            if role == NAMESPACE and body is not None:  # anonymous namespace: no qualifier
                self.walk(self.members(node, body), scope, out)
            return None
        definition = self._make(site, role, name, scope.symbol)
        out.append(definition)
        if node.type in self.spec.sibling_namespaces and body is None:
            # `namespace Foo;` scopes what follows; a second one replaces it.
            return _Scope(_join(base_scope.symbol, name), base_scope.holds_methods)
        if body is not None:
            inner_scope = _Scope(definition.symbol, role != NAMESPACE)
            self.walk(self.members(node, body), inner_scope, definition.children)
        if role == STRUCT:
            has_methods = any(child.kind == "method" for child in definition.children)
            definition.kind = CLASS if has_methods else TYPE
        return None

    def _container_name(self, node: Node, role: str) -> str:
        name_node = node.child_by_field_name("name")
        if name_node is None and role == IMPL:
            name_node = node.child_by_field_name("type")  # Rust `impl Trait for Type`
        if name_node is None:
            name_node = self._declarator_name(node)  # C `typedef struct {...} name;`
        if name_node is None:
            return ""
        text = self.text(name_node)
        if role == IMPL:
            return _base_type_name(text)
        return _NAME_SEPARATORS.sub(".", text).strip()

    def _declarator_name(self, node: Node) -> Node | None:
        """Follow C/C++ declarator fields down to the declared name."""
        declarator = node.child_by_field_name("declarator")
        while declarator is not None:
            deeper = declarator.child_by_field_name("declarator")
            if deeper is None:
                return declarator
            declarator = deeper
        return None

    def _function_name_parts(self, node: Node) -> list[str]:
        """[qualifiers..., name]: `Foo::bar` -> ["Foo", "bar"], Go `(s *Srv) Run` -> ["Srv", "Run"]."""
        name_node = node.child_by_field_name("name") or self._declarator_name(node)
        if name_node is None:
            return []
        parts: list[str] = []
        while name_node.type == "qualified_identifier":
            scope_node = name_node.child_by_field_name("scope")
            if scope_node is not None:
                parts.append(_base_type_name(self.text(scope_node)))
            name_node = name_node.child_by_field_name("name")
            if name_node is None:
                return []
        parts.append(self.text(name_node).strip())
        if self.spec.receivers:
            receiver = node.child_by_field_name("receiver")
            if receiver is not None:
                parts.insert(0, self._receiver_type(receiver))
        return [part for part in parts if part]

    def _receiver_type(self, receiver: Node) -> str:
        for parameter in receiver.named_children:
            type_node = parameter.child_by_field_name("type")
            if type_node is not None:
                return _base_type_name(self.text(type_node))
        return ""

    def _make(self, site: _Site, kind: str, name: str, parent: str) -> Definition:
        outer, body = site.outer, site.body
        first = site.leading[0] if site.leading else outer
        definition = Definition(
            kind=kind,
            name=name,
            symbol=_join(parent, name),
            parent=parent,
            start_byte=first.start_byte - first.start_point.column,
            end_byte=outer.end_byte,
            start_line=first.start_point.row + 1,
            end_line=_last_row(outer) + 1,
            header_line=outer.start_point.row + 1,
            header_byte=outer.start_byte,
            signature=self._signature(site.signature_start, site.node, body),
            doc=self._doc(body, site.leading),
        )
        if body is not None:
            definition.body_start, definition.body_end = body.start_byte, body.end_byte
        return definition

    def _signature(self, start: int, node: Node, body: Node | None) -> str:
        """Header text up to the body (or the first line), whitespace collapsed."""
        header_end = self._header_end(body)
        if header_end > start:
            end = header_end
        else:
            newline = self.source.find(b"\n", start, node.end_byte)
            end = node.end_byte if newline < 0 else newline
        raw = self.source[start : min(end, start + 4 * MAX_SIGNATURE_CHARS)]
        signature = " ".join(raw.decode("utf-8", "replace").split())
        if signature.endswith("{"):
            signature = signature[:-1].rstrip()
        return signature[:MAX_SIGNATURE_CHARS]

    def _header_end(self, body: Node | None) -> int:
        """End of the last header token before the body; a comment opening a Python block
        belongs to the body, not the signature."""
        if body is None:
            return -1
        previous = body.prev_sibling
        while previous is not None and previous.type in self.spec.comments:
            previous = previous.prev_sibling
        return body.start_byte if previous is None else previous.end_byte

    def _doc(self, body: Node | None, leading: list[Node]) -> str:
        if self.spec.python_docstrings and body is not None:
            docstring = self._python_docstring(body)
            if docstring:
                return docstring
        comments = [self.text(n) for n in leading if n.type in self.spec.comments]
        return strip_comment_markers("\n".join(comments)) if comments else ""

    def _python_docstring(self, body: Node) -> str:
        # named_child raises (not None) past the end on py-tree-sitter 0.25: an empty
        # body (an unindented docstring leaves one) must be asked first.
        first = body.named_children[0] if body.named_child_count else None
        if first is None or first.type != "expression_statement" or first.named_child_count != 1:
            return ""
        literal = first.named_children[0]
        if literal is None or literal.type != "string":
            return ""
        return _string_literal_text(self.text(literal))


def _string_literal_text(literal: str) -> str:
    """The cleaned-up contents of a Python string literal (escapes left as written)."""
    literal = literal.lstrip("rRuUbBfF")
    for quote in ('"""', "'''", '"', "'"):
        if literal.startswith(quote) and literal.endswith(quote) and len(literal) >= 2 * len(quote):
            literal = literal[len(quote) : -len(quote)]
            break
    return inspect.cleandoc(literal)


_BLOCK_COMMENT_OPEN = re.compile(r"^\s*/\*+!?")
_BLOCK_COMMENT_CLOSE = re.compile(r"\*+/\s*$")
_LINE_MARKER = re.compile(r"^\s*(?://[/!]?|#+|\*(?!/)|=begin|=end)?[ \t]?")


def strip_comment_markers(comment: str) -> str:
    """Comment text without `//`, `///`, `#`, `/** */`, leading `*` markers."""
    lines: list[str] = []
    for line in comment.split("\n"):
        line = _BLOCK_COMMENT_CLOSE.sub("", _BLOCK_COMMENT_OPEN.sub("", line))
        lines.append(_LINE_MARKER.sub("", line, count=1).rstrip())
    return "\n".join(lines).strip()

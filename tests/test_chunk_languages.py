"""chunk_file on realistic code in every tree-sitter language, and on prose and odd input."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from codesearch import parse
from codesearch.chunk import Chunk, chunk_file, estimate_tokens
from codesearch.languages import CODE_LANGUAGES

# Small enough that every sample class splits into a skeleton plus one chunk per method.
SPLIT_BUDGET = 40


@dataclass(frozen=True)
class Case:
    language: str
    path: str
    source: str
    # (kind, symbol, parent, start_line, end_line) of every chunk, in order.
    expected: list[tuple[str, str, str, int, int]]
    # symbol -> (doc, first line of its code: the leading comment or decorator)
    docs: dict[str, tuple[str, str]] = field(default_factory=dict)


PYTHON = '''\
"""Inventory helpers."""
import os

LIMIT = 10


# Tracks stock levels.
@dataclass
class Inventory(Base):
    """Items on hand."""

    count: int = 0

    # Adds stock.
    def add(self, n):
        """Add n items."""
        return self.count + n

    class Entry:
        def label(self):
            return "entry"


def restock(inventory, n):
    # not a docstring: a comment inside the body
    return inventory.add(n)


if __name__ == "__main__":
    restock(Inventory(), LIMIT)
'''

JAVASCRIPT = """\
import { readFile } from "fs";

/**
 * A cache of parsed files.
 */
export class FileCache extends Map {
  constructor(limit) {
    super();
    this.limit = limit;
  }

  // Returns the parsed file.
  async get(path) {
    return readFile(path);
  }
}

/** Adds two numbers. */
const add = (a, b) => {
  return a + b;
};

export default function () {}
"""

TYPESCRIPT = """\
/** A shape. */
export interface Shape {
  area(): number;
}

type Id = string | number;

// Shapes live here.
namespace Geometry {
  /** A circle. */
  export class Circle implements Shape {
    constructor(private r: number) {}
    area(): number {
      return Math.PI * this.r ** 2;
    }
  }
}

export enum Color { Red, Green }

/** Square a number. */
export function square(x: number): number {
  return x * x;
}
"""

TSX = """\
import React, { useState } from "react";

/** Props for the counter. */
interface CounterProps {
  start: number;
}

/** A clickable counter. */
export class Counter extends React.Component<CounterProps> {
  state = { count: this.props.start };

  // Bumps the count.
  increment(): void {
    this.setState({ count: this.state.count + 1 });
  }

  render() {
    return <button onClick={() => this.increment()}>{this.state.count}</button>;
  }
}

// A label for the count.
export const Label = ({ text }: { text: string }) => {
  const [shown] = useState(true);
  return shown ? <span>{text}</span> : null;
};
"""

GO = """\
package server

import "fmt"

// Server serves HTTP.
type Server struct {
    addr string
}

// Start starts the server.
func (s *Server) Start(port int) error {
    fmt.Println(port)
    return nil
}

type (
    ID   int
    Name string
)

// New makes a server.
func New(addr string) *Server {
    return &Server{addr: addr}
}
""".replace("    ", "\t")

RUST = """\
use std::fmt;

/// A point in 2D.
#[derive(Debug, Clone)]
pub struct Point {
    x: f64,
    y: f64,
}

impl Point {
    /// Creates a point.
    pub fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "({}, {})", self.x, self.y)
    }
}

mod geometry {
    /// Distance between points.
    pub fn distance(a: f64, b: f64) -> f64 {
        (a - b).abs()
    }
}
"""

JAVA = """\
package com.example;

import java.util.List;

/**
 * Keeps a running total.
 */
@Deprecated
public class Counter {
    private int total;

    /** Creates an empty counter. */
    public Counter() {
        this.total = 0;
    }

    // Adds a value.
    public void add(int value) {
        total += value;
    }

    interface Listener {
        void changed(int total);
    }
}
"""

C = """\
#include <stdio.h>

/* A 2D point. */
struct point {
    int x;
    int y;
};

typedef struct {
    int w, h;
} size2;

/**
 * Adds two ints.
 */
static int add(int a, int b) {
    return a + b;
}

int main(void) {
    printf("%d\\n", add(1, 2));
    return 0;
}
"""

CPP = """\
#include <string>

namespace geo {

/// A shape with an area.
class Shape {
 public:
  virtual ~Shape() = default;
  virtual double area() const = 0;
  // Name of the shape.
  std::string name() const {
    return "shape";
  }
};

}  // namespace geo

// Area of a unit shape.
double geo::Shape::area() const {
  return 1.0;
}

template <typename T>
T twice(T x) {
  return x * 2;
}
"""

CSHARP = """\
using System;

namespace App.Models
{
    /// <summary>A user account.</summary>
    [Serializable]
    public class User
    {
        public string Name { get; set; }

        /// <summary>Greets someone.</summary>
        public string Greet(string other)
        {
            return $"Hi {other}";
        }
    }

    public struct Point { public int X; }

    public interface IRepo
    {
        User Find(int id);
    }
}
"""

RUBY = """\
require "json"

module Shop
  # A line item in an order.
  class Item
    attr_reader :price

    # Builds an item.
    def initialize(price)
      @price = price
    end

    def self.free
      new(0)
    end
  end

  # Sum of prices.
  def self.total(items)
    items.sum(&:price)
  end
end

puts Shop.total([])
"""

PHP = """\
<?php
namespace App\\Models;

use Illuminate\\Database\\Eloquent\\Model;

/**
 * A blog post.
 */
class Post extends Model
{
    protected $fillable = ['title'];

    /** The post's title, shouted. */
    public function loudTitle(): string
    {
        return strtoupper($this->title);
    }
}

// Formats a date.
function format_date($date)
{
    return date('Y-m-d', $date);
}
"""

BASH = """\
#!/usr/bin/env bash
set -euo pipefail

# Prints a greeting.
greet() {
  echo "hello $1"
}

function cleanup {
  rm -rf "$TMP"
}

trap cleanup EXIT
greet world
"""

CASES = [
    Case(
        "python",
        "inventory.py",
        PYTHON,
        [
            ("module", "", "", 1, 4),
            ("class", "Inventory", "", 7, 21),
            ("method", "Inventory.add", "Inventory", 14, 17),
            ("class", "Inventory.Entry", "Inventory", 19, 21),
            ("function", "restock", "", 24, 26),
            ("module", "", "", 29, 30),
        ],
        {
            "Inventory": ("Items on hand.", "# Tracks stock levels."),
            "Inventory.add": ("Add n items.", "    # Adds stock."),
            "restock": ("", "def restock(inventory, n):"),
        },
    ),
    Case(
        "javascript",
        "cache.js",
        JAVASCRIPT,
        [
            ("module", "", "", 1, 1),
            ("class", "FileCache", "", 3, 16),
            ("method", "FileCache.constructor", "FileCache", 7, 10),
            ("method", "FileCache.get", "FileCache", 12, 15),
            ("function", "add", "", 18, 21),
            ("module", "", "", 23, 23),
        ],
        {
            "FileCache": ("A cache of parsed files.", "/**"),
            "FileCache.get": ("Returns the parsed file.", "  // Returns the parsed file."),
            "add": ("Adds two numbers.", "/** Adds two numbers. */"),
        },
    ),
    Case(
        "typescript",
        "shapes.ts",
        TYPESCRIPT,
        [
            ("type", "Shape", "", 1, 4),
            ("type", "Id", "", 6, 6),
            ("module", "", "", 8, 8),
            ("class", "Geometry.Circle", "Geometry", 10, 16),
            ("method", "Geometry.Circle.constructor", "Geometry.Circle", 12, 12),
            ("method", "Geometry.Circle.area", "Geometry.Circle", 13, 15),
            ("type", "Color", "", 19, 19),
            ("function", "square", "", 21, 24),
        ],
        {
            "Shape": ("A shape.", "/** A shape. */"),
            "Geometry.Circle": ("A circle.", "  /** A circle. */"),
            "square": ("Square a number.", "/** Square a number. */"),
        },
    ),
    Case(
        "tsx",
        "counter.tsx",
        TSX,
        [
            ("module", "", "", 1, 1),
            ("type", "CounterProps", "", 3, 6),
            ("class", "Counter", "", 8, 20),
            ("method", "Counter.increment", "Counter", 12, 15),
            ("method", "Counter.render", "Counter", 17, 19),
            ("function", "Label", "", 22, 26),
        ],
        {
            "Counter": ("A clickable counter.", "/** A clickable counter. */"),
            "Counter.increment": ("Bumps the count.", "  // Bumps the count."),
            "Label": ("A label for the count.", "// A label for the count."),
        },
    ),
    Case(
        "go",
        "server.go",
        GO,
        [
            ("module", "", "", 1, 3),
            ("type", "Server", "", 5, 8),
            ("method", "Server.Start", "Server", 10, 14),
            ("type", "ID", "", 17, 17),
            ("type", "Name", "", 18, 18),
            ("function", "New", "", 21, 24),
        ],
        {
            "Server": ("Server serves HTTP.", "// Server serves HTTP."),
            "Server.Start": ("Start starts the server.", "// Start starts the server."),
            "New": ("New makes a server.", "// New makes a server."),
        },
    ),
    Case(
        "rust",
        "point.rs",
        RUST,
        [
            ("module", "", "", 1, 1),
            ("type", "Point", "", 3, 8),
            ("method", "Point.new", "Point", 11, 14),
            ("method", "Point.fmt", "Point", 18, 20),
            ("function", "geometry.distance", "geometry", 24, 27),
        ],
        {
            "Point": ("A point in 2D.", "/// A point in 2D."),
            "Point.new": ("Creates a point.", "    /// Creates a point."),
            "geometry.distance": ("Distance between points.", "    /// Distance between points."),
        },
    ),
    Case(
        "java",
        "Counter.java",
        JAVA,
        [
            ("module", "", "", 1, 3),
            ("class", "Counter", "", 5, 25),
            ("method", "Counter.Counter", "Counter", 12, 15),
            ("method", "Counter.add", "Counter", 17, 20),
            ("type", "Counter.Listener", "Counter", 22, 24),
        ],
        {
            "Counter": ("Keeps a running total.", "/**"),
            "Counter.Counter": (
                "Creates an empty counter.",
                "    /** Creates an empty counter. */",
            ),
            "Counter.add": ("Adds a value.", "    // Adds a value."),
        },
    ),
    Case(
        "c",
        "point.c",
        C,
        [
            ("module", "", "", 1, 1),
            ("type", "point", "", 3, 7),
            ("type", "size2", "", 9, 11),
            ("function", "add", "", 13, 18),
            ("function", "main", "", 20, 23),
        ],
        {
            "point": ("A 2D point.", "/* A 2D point. */"),
            "add": ("Adds two ints.", "/**"),
        },
    ),
    Case(
        "cpp",
        "shape.cpp",
        CPP,
        [
            ("module", "", "", 1, 1),
            ("class", "geo.Shape", "geo", 5, 14),
            ("method", "geo.Shape.name", "geo.Shape", 10, 13),
            ("method", "geo.Shape.area", "geo.Shape", 18, 21),
            ("function", "twice", "", 23, 26),
        ],
        {
            "geo.Shape": ("A shape with an area.", "/// A shape with an area."),
            "geo.Shape.name": ("Name of the shape.", "  // Name of the shape."),
            "geo.Shape.area": ("Area of a unit shape.", "// Area of a unit shape."),
        },
    ),
    Case(
        "csharp",
        "User.cs",
        CSHARP,
        [
            ("module", "", "", 1, 1),
            ("class", "App.Models.User", "App.Models", 5, 16),
            ("method", "App.Models.User.Greet", "App.Models.User", 11, 15),
            ("type", "App.Models.Point", "App.Models", 18, 18),
            ("type", "App.Models.IRepo", "App.Models", 20, 23),
        ],
        {
            "App.Models.User": (
                "<summary>A user account.</summary>",
                "    /// <summary>A user account.</summary>",
            ),
            "App.Models.User.Greet": (
                "<summary>Greets someone.</summary>",
                "        /// <summary>Greets someone.</summary>",
            ),
        },
    ),
    Case(
        "ruby",
        "shop.rb",
        RUBY,
        [
            ("module", "", "", 1, 1),
            ("class", "Shop.Item", "Shop", 4, 16),
            ("method", "Shop.Item.initialize", "Shop.Item", 8, 11),
            ("method", "Shop.Item.free", "Shop.Item", 13, 15),
            ("method", "Shop.total", "Shop", 18, 21),
            ("module", "", "", 24, 24),
        ],
        {
            "Shop.Item": ("A line item in an order.", "  # A line item in an order."),
            "Shop.Item.initialize": ("Builds an item.", "    # Builds an item."),
            "Shop.total": ("Sum of prices.", "  # Sum of prices."),
        },
    ),
    Case(
        "php",
        "Post.php",
        PHP,
        [
            ("module", "", "", 1, 1),
            ("module", "", "", 4, 4),
            ("class", "App.Models.Post", "App.Models", 6, 18),
            ("method", "App.Models.Post.loudTitle", "App.Models.Post", 13, 17),
            ("function", "App.Models.format_date", "App.Models", 20, 24),
        ],
        {
            "App.Models.Post": ("A blog post.", "/**"),
            "App.Models.Post.loudTitle": (
                "The post's title, shouted.",
                "    /** The post's title, shouted. */",
            ),
            "App.Models.format_date": ("Formats a date.", "// Formats a date."),
        },
    ),
    Case(
        "bash",
        "greet.sh",
        BASH,
        [
            ("module", "", "", 1, 2),
            ("function", "greet", "", 4, 7),
            ("function", "cleanup", "", 9, 11),
            ("module", "", "", 13, 14),
        ],
        {"greet": ("Prints a greeting.", "# Prints a greeting.")},
    ),
]
CASE_IDS = [case.language for case in CASES]


def _chunks(case: Case, budget: int = SPLIT_BUDGET) -> list[Chunk]:
    result = chunk_file(case.path, case.source, case.language, max_chunk_tokens=budget)
    assert result.parse_error == ""
    return result.chunks


def _by_symbol(chunks: list[Chunk]) -> dict[str, Chunk]:
    return {chunk.symbol: chunk for chunk in chunks if chunk.symbol}


def test_every_code_language_has_a_case() -> None:
    assert sorted(CASE_IDS) == sorted(CODE_LANGUAGES)


@pytest.mark.parametrize("language", sorted(parse.SPECS))
def test_spec_node_types_exist_in_grammar(language: str) -> None:
    """A misspelt node type would silently match nothing."""
    spec = parse.SPECS[language]
    grammar = parse.grammar(language)
    node_types = (
        set(spec.definitions)
        | set(spec.wrappers)
        | spec.comments
        | spec.attributes
        | spec.transparent
        | spec.needs_body
        | spec.function_values
        | spec.sibling_namespaces
    )
    assert [t for t in sorted(node_types) if not grammar.id_for_node_kind(t, True)] == []


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_kinds_symbols_parents_and_lines(case: Case) -> None:
    chunks = _chunks(case)
    got = [(c.kind, c.symbol, c.parent, c.start_line, c.end_line) for c in chunks]
    assert got == case.expected
    assert all(c.path == case.path and c.language == case.language for c in chunks)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_docs_and_leading_comments(case: Case) -> None:
    by_symbol = _by_symbol(_chunks(case))
    for symbol, (doc, first_line) in case.docs.items():
        assert by_symbol[symbol].doc == doc, symbol
        assert by_symbol[symbol].code.split("\n")[0] == first_line, symbol


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_code_is_exactly_the_lines_except_for_skeletons(case: Case) -> None:
    lines = case.source.split("\n")
    for chunk in _chunks(case):
        exact = "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
        if chunk.kind in ("class", "type") and chunk.code != exact:
            # A skeleton spans the whole container but elides member bodies.
            assert "..." in chunk.code and len(chunk.code) < len(exact)
            assert chunk.code.split("\n")[0] == exact.split("\n")[0]
        else:
            assert chunk.code == exact


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_default_budget_keeps_small_classes_whole(case: Case) -> None:
    chunks = _chunks(case, budget=256)
    containers = [c for c in chunks if c.kind in ("class", "type")]
    # Methods written inside a small class are not emitted again; Go receivers, Rust impls
    # and C++ out-of-class definitions sit outside it and still are.
    nested = [
        (method.symbol, container.symbol)
        for method in chunks
        if method.kind == "method"
        for container in containers
        if container.start_line <= method.start_line <= container.end_line
    ]
    assert nested == []
    lines = case.source.split("\n")
    for chunk in chunks:
        assert chunk.code == "\n".join(lines[chunk.start_line - 1 : chunk.end_line])


def test_cpp_header_mapped_to_c_still_finds_its_class() -> None:
    source = (
        "#pragma once\n\n// A 2D vector.\nclass Vec {\n public:\n"
        "  float dot(const Vec& o) const {\n    return x * o.x + y * o.y;\n  }\n"
        "  float x, y;\n};\n"
    )
    result = chunk_file("vec.h", source, "c", max_chunk_tokens=20)
    assert result.parse_error == ""
    got = [(c.kind, c.symbol, c.start_line, c.end_line, c.language) for c in result.chunks]
    assert got == [
        ("module", "", 1, 1, "c"),
        ("class", "Vec", 3, 10, "c"),
        ("method", "Vec.dot", 6, 8, "c"),
    ]


def test_signatures_stop_at_the_body() -> None:
    python = _by_symbol(_chunks(CASES[0]))
    assert python["Inventory"].signature == "class Inventory(Base):"
    assert python["restock"].signature == "def restock(inventory, n):"
    go = _by_symbol(_chunks(CASES[CASE_IDS.index("go")]))
    assert go["Server.Start"].signature == "func (s *Server) Start(port int) error"
    javascript = _by_symbol(_chunks(CASES[CASE_IDS.index("javascript")]))
    assert javascript["add"].signature == "const add = (a, b) =>"


# ---------------------------------------------------------------- classes


def _big_class(methods: int = 12) -> str:
    parts = ['class Store:\n    """A key-value store."""\n\n    backend = "memory"\n']
    for i in range(methods):
        parts.append(
            f"\n    def op{i}(self, key, value=None):\n"
            f'        """Operation {i}."""\n'
            f"        result = self.backend.call('op{i}', key, value)\n"
            f"        return result\n"
        )
    return "".join(parts)


def test_big_class_yields_skeleton_and_methods() -> None:
    source = _big_class()
    chunks = chunk_file("store.py", source, "python").chunks
    skeleton, *methods = chunks
    assert (skeleton.kind, skeleton.symbol, skeleton.start_line) == ("class", "Store", 1)
    assert skeleton.end_line == len(source.rstrip("\n").split("\n"))
    assert "def op0(self, key, value=None):" in skeleton.code
    assert "def op11(self, key, value=None):" in skeleton.code
    assert 'backend = "memory"' in skeleton.code  # fields stay
    assert '"""A key-value store."""' in skeleton.code  # the class doc stays
    assert "self.backend.call" not in skeleton.code  # bodies go
    assert '"""Operation 0."""' not in skeleton.code
    assert [m.symbol for m in methods] == [f"Store.op{i}" for i in range(12)]
    assert {(m.kind, m.parent) for m in methods} == {("method", "Store")}
    assert methods[0].doc == "Operation 0."
    assert "self.backend.call('op0'" in methods[0].code


def test_small_class_is_one_chunk() -> None:
    source = _big_class(methods=1)
    assert estimate_tokens(source) < 256
    chunks = chunk_file("store.py", source, "python").chunks
    assert [(c.kind, c.symbol, c.start_line, c.end_line) for c in chunks] == [
        ("class", "Store", 1, 9)
    ]
    assert chunks[0].code == source.rstrip("\n")


def test_big_function_stays_one_chunk() -> None:
    body = "".join(f"    total += compute({i}, factor={i} * 2)\n" for i in range(200))
    source = f"def long_one():\n    total = 0\n{body}    return total\n"
    chunks = chunk_file("long.py", source, "python").chunks
    assert [(c.kind, c.symbol, c.start_line, c.end_line) for c in chunks] == [
        ("function", "long_one", 1, 203)
    ]


def test_big_trait_is_a_type_skeleton_with_methods() -> None:
    methods = "".join(
        f"    /// Step {i}.\n    fn step{i}(&self, input: u32) -> u32 {{\n"
        f"        input.wrapping_mul({i}).wrapping_add(self.seed())\n    }}\n"
        for i in range(10)
    )
    source = f"pub trait Steps {{\n    fn seed(&self) -> u32;\n{methods}}}\n"
    chunks = chunk_file("steps.rs", source, "rust").chunks
    assert (chunks[0].kind, chunks[0].symbol) == ("type", "Steps")
    assert "fn step9(&self, input: u32) -> u32 { ... }" in chunks[0].code
    assert "fn seed(&self) -> u32;" in chunks[0].code
    assert "wrapping_mul" not in chunks[0].code
    assert [(c.kind, c.symbol, c.parent) for c in chunks[1:]] == [
        ("method", f"Steps.step{i}", "Steps") for i in range(10)
    ]
    assert chunks[1].doc == "Step 0."


def test_comment_after_a_blank_line_is_not_attached() -> None:
    source = "# About the module.\n\ndef f():\n    return 1\n"
    chunks = chunk_file("m.py", source, "python").chunks
    assert [(c.kind, c.start_line, c.end_line, c.doc) for c in chunks] == [
        ("module", 1, 1, ""),
        ("function", 3, 4, ""),
    ]


def test_js_function_values_count_and_other_constants_do_not() -> None:
    source = (
        "const handlers = { onClick() { return 1; } };\n"
        "const LIMIT = 3;\n"
        "let double = function (x) {\n  return x * 2;\n};\n"
    )
    chunks = chunk_file("h.js", source, "javascript").chunks
    assert [(c.kind, c.symbol, c.start_line, c.end_line) for c in chunks] == [
        ("module", "", 1, 2),
        ("function", "double", 3, 5),
    ]


# ---------------------------------------------------------------- module windows and errors


def test_module_level_code_becomes_windows_split_at_blank_lines() -> None:
    imports = "".join(f"import module_{i}\n" for i in range(30))
    settings = "".join(f"SETTING_{i} = {i}\n" for i in range(30))
    source = f"{imports}\n{settings}\n\ndef main():\n    return 0\n\n\nmain()\n"
    chunks = chunk_file("app.py", source, "python").chunks
    assert [(c.kind, c.symbol, c.start_line, c.end_line) for c in chunks] == [
        ("module", "", 1, 30),  # 30 + 1 + 30 lines exceed the 40-line window: cut at the blank
        ("module", "", 32, 61),
        ("function", "main", 64, 65),
        ("module", "", 68, 68),
    ]
    assert all(c.parent == "" for c in chunks)


def test_module_windows_respect_the_token_budget() -> None:
    source = "".join(f"VALUE_{i} = compute('a', 'b', 'c', {i})\n" for i in range(30))
    chunks = chunk_file("values.py", source, "python", max_chunk_tokens=64).chunks
    assert len(chunks) > 1
    assert all(estimate_tokens(c.code) <= 64 for c in chunks)
    assert [c.start_line for c in chunks[1:]] == [c.end_line + 1 for c in chunks[:-1]]


def test_syntax_errors_keep_recovered_definitions() -> None:
    source = (
        "import os\n\n"
        "def good(a):\n    return a\n\n"
        "def broken(:\n    pass\n\n"
        'def also_good(b):\n    """Still found."""\n    return b\n'
    )
    result = chunk_file("broken.py", source, "python")
    assert result.parse_error == ""
    by_symbol = _by_symbol(result.chunks)
    assert (by_symbol["good"].start_line, by_symbol["good"].end_line) == (3, 4)
    assert (by_symbol["also_good"].start_line, by_symbol["also_good"].end_line) == (9, 11)
    assert by_symbol["also_good"].doc == "Still found."


@pytest.mark.parametrize("language", ["python", "c", "javascript", "ruby", "markdown", "json"])
def test_garbage_bytes_fall_back_without_raising(language: str) -> None:
    rng = random.Random(7)
    text = bytes(rng.randrange(256) for _ in range(4000)).decode("utf-8", "replace")
    result = chunk_file("blob.bin", text, language)
    assert result.chunks
    lines = text.replace("\r\n", "\n").split("\n")
    for chunk in result.chunks:
        assert chunk.code == "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
    if language in ("python", "c", "javascript", "ruby"):
        assert result.parse_error != ""
        assert {c.kind for c in result.chunks} == {"module"}


def test_odd_text_never_raises() -> None:
    for text in ["\x00\x00", "\udcff def f(): pass", "(" * 5000, "\r\r\r", "\t\n\t"]:
        for language in [*CODE_LANGUAGES, "markdown", "rst", "text", "yaml", "unknown"]:
            result = chunk_file("odd", text, language)
            assert all(chunk.code.strip() for chunk in result.chunks)


def test_crlf_and_bom_keep_line_numbers() -> None:
    source = "\ufeffimport os\r\n\r\n# Doubles.\r\ndef double(x):\r\n    return 2 * x\r\n"
    chunks = chunk_file("d.py", source, "python").chunks
    assert [(c.kind, c.symbol, c.start_line, c.end_line) for c in chunks] == [
        ("module", "", 1, 1),
        ("function", "double", 3, 5),
    ]
    assert chunks[0].code == "import os"
    assert chunks[1].code == "# Doubles.\ndef double(x):\n    return 2 * x"
    assert chunks[1].doc == "Doubles."


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff", "  \r\n\t\r\n"])
@pytest.mark.parametrize("language", ["python", "markdown", "text", "toml"])
def test_empty_files_have_no_chunks(text: str, language: str) -> None:
    result = chunk_file("empty", text, language)
    assert result.chunks == []
    assert result.parse_error == ""


def test_tabs_and_non_ascii() -> None:
    source = "class Größe:\n\tdef maß(self):\n\t\t'''Ünïcödé 文字.'''\n\t\treturn 1\n"
    chunks = chunk_file("g.py", source, "python", max_chunk_tokens=8).chunks
    assert [(c.kind, c.symbol, c.start_line, c.end_line) for c in chunks] == [
        ("class", "Größe", 1, 4),
        ("method", "Größe.maß", 2, 4),
    ]
    assert chunks[1].doc == "Ünïcödé 文字."


# ---------------------------------------------------------------- prose and other files

MARKDOWN = """\
---
title: Tool
---
Intro paragraph.

# Install

Get it.

## From source

```sh
# not a heading
make install
```

Usage
=====

Run it.

Options
-------

- `--fast`
"""


def test_markdown_sections_have_heading_paths() -> None:
    chunks = chunk_file("README.md", MARKDOWN, "markdown").chunks
    assert [(c.kind, c.symbol, c.parent, c.start_line, c.end_line) for c in chunks] == [
        ("section", "", "", 1, 4),
        ("section", "Install", "", 6, 8),
        ("section", "Install > From source", "Install", 10, 15),
        ("section", "Usage", "", 17, 20),
        ("section", "Usage > Options", "Usage", 22, 25),
    ]
    assert "# not a heading" in chunks[2].code


def test_markdown_skips_empty_parent_headings() -> None:
    chunks = chunk_file("doc.md", "# Guide\n\n## Setup\n\nSteps.\n", "markdown").chunks
    assert [(c.symbol, c.parent, c.start_line) for c in chunks] == [("Guide > Setup", "Guide", 3)]


def test_long_markdown_section_splits_into_parts() -> None:
    paragraphs = "\n".join(f"Paragraph {i} says something.\nIt goes on.\n" for i in range(40))
    chunks = chunk_file("long.md", f"# Notes\n\n{paragraphs}", "markdown").chunks
    assert len(chunks) > 1
    assert {c.symbol for c in chunks} == {"Notes"}
    assert chunks[0].start_line == 1
    assert all(c.end_line - c.start_line < 60 for c in chunks)
    assert [c.start_line for c in chunks[1:]] == [c.end_line + 2 for c in chunks[:-1]]


RST = """\
=====
Tool
=====

Intro.

Install
-------

Text.

From source
~~~~~~~~~~~

Build it::

    make

Usage
-----

Use it.
"""


def test_rst_sections_levels_follow_first_appearance() -> None:
    chunks = chunk_file("index.rst", RST, "rst").chunks
    assert [(c.symbol, c.parent, c.start_line, c.end_line) for c in chunks] == [
        ("Tool", "", 1, 5),
        ("Tool > Install", "Tool", 7, 10),
        ("Tool > Install > From source", "Tool > Install", 12, 17),
        ("Tool > Usage", "Tool", 19, 22),
    ]
    assert {c.kind for c in chunks} == {"section"}


def test_plain_text_paragraph_windows() -> None:
    text = "Release notes for the tool and a very long first line that goes on\nmore\n\nNext.\n"
    chunks = chunk_file("NOTES.txt", text, "text").chunks
    assert [(c.kind, c.start_line, c.end_line) for c in chunks] == [("section", 1, 4)]
    assert chunks[0].symbol == "Release notes for the tool and a very long first line that g"


def test_other_languages_are_text_windows() -> None:
    source = "".join(f"key_{i} = {i}\n" for i in range(50))
    chunks = chunk_file("config.toml", source, "toml").chunks
    assert [(c.kind, c.symbol, c.start_line, c.end_line) for c in chunks] == [
        ("text", "", 1, 40),
        ("text", "", 41, 50),
    ]


def test_estimate_tokens_counts_words_and_punctuation() -> None:
    assert estimate_tokens("def f(a): pass") == 10  # 7 tokens * 1.3, rounded up
    assert estimate_tokens("") == 0


def test_python_function_with_an_empty_body_and_an_unindented_docstring():
    # Found by the fuzzer: the def's body is empty (the docstring sits at column 0),
    # which once made tree-sitter's named_child(0) raise and the file fall back.
    text = ('def sha(path):\n"""Hex digest of the file."""\n    h = 1\n    return h\n')
    result = chunk_file("h.py", text, "python", 64)
    assert not result.parse_error.startswith(("tree-sitter failed", "chunking failed"))

; Tags of Rust: definitions, references, imports and scopes. Capture names: grammars/README.md.

; Definitions

(function_item
  name: (identifier) @name
  body: (block) @body) @definition.function @scope

; Declared without a body, as in `extern "C" { fn abs(x: i32) -> i32; }`.
(function_signature_item
  name: (identifier) @name) @definition.function

; A function in an impl or trait is a method; the patterns above also capture it as a function,
; and the extraction keeps the more specific kind.
(impl_item
  body: (declaration_list
    (function_item
      name: (identifier) @name
      body: (block) @body) @definition.method))

(trait_item
  body: (declaration_list
    [
      (function_item
        name: (identifier) @name
        body: (block) @body)
      (function_signature_item
        name: (identifier) @name)
    ] @definition.method))

; A tuple struct (`struct Meters(f64);`) has no field list, so its header is its first line.
(struct_item
  name: (type_identifier) @name
  body: (field_declaration_list)? @body) @definition.type

(union_item
  name: (type_identifier) @name
  body: (field_declaration_list) @body) @definition.type

(enum_item
  name: (type_identifier) @name
  body: (enum_variant_list) @body) @definition.type

; A type alias at the top level or in a module, not an associated type of an impl
; (`type Ok = Value;`, `type Output = Self;`): that name is only reachable through its type
; (`Self::Ok`), never bare, so it would shadow the prelude's `Ok` and every `Output`.
(source_file
  (type_item
    name: (type_identifier) @name) @definition.type)

(mod_item
  body: (declaration_list
    (type_item
      name: (type_identifier) @name) @definition.type))

(trait_item
  name: (type_identifier) @name
  body: (declaration_list) @body) @definition.interface @scope

(const_item
  name: (identifier) @name) @definition.constant

(static_item
  name: (identifier) @name) @definition.constant

(mod_item
  name: (identifier) @name
  body: (declaration_list) @body) @definition.module @scope

; `mod tests;` has no body.
(mod_item
  name: (identifier) @name
  !body) @definition.module

; Scopes that define no name

(impl_item
  body: (declaration_list) @body) @scope

; References

(call_expression
  function: (identifier) @reference)

(call_expression
  function: (field_expression
    field: (field_identifier) @reference))

; `Circle::new(..)` refers to both `Circle` and `new`; `a::b::Circle::new(..)` too.
(call_expression
  function: (scoped_identifier
    path: [
      (identifier) @reference
      (scoped_identifier
        name: (identifier) @reference)
    ]?
    name: (identifier) @reference))

(call_expression
  function: (generic_function
    function: [
      (identifier) @reference
      (scoped_identifier
        name: (identifier) @reference)
      (field_expression
        field: (field_identifier) @reference)
    ]))

(macro_invocation
  macro: [
    (identifier) @reference
    (scoped_identifier
      name: (identifier) @reference)
  ])

; Every type name outside its own definition: annotations, struct literals, generic arguments,
; impl targets and trait bounds; except one-letter names, which are type parameters.
((type_identifier) @reference
  (#not-match? @reference "^[A-Z]$"))

; Imports

(use_declaration) @import

; `use std::collections::HashMap;` and `use a::b::C as D;`
(use_declaration
  argument: [
    (scoped_identifier
      path: (_) @import.source
      name: (identifier) @import.name)
    (use_as_clause
      path: (scoped_identifier
        path: (_) @import.source
        name: (identifier) @import.name))
  ]) @import

; `use serde;` and `use serde as s;`
(use_declaration
  argument: [
    (identifier) @import.source
    (use_as_clause
      path: (identifier) @import.source)
  ]) @import

; `use std::fmt::{self, Display, Write as _, io::Read};`
(use_declaration
  argument: (scoped_use_list
    path: (_) @import.source
    list: (use_list
      [
        (identifier) @import.name
        (use_as_clause
          path: (identifier) @import.name)
        (scoped_identifier
          name: (identifier) @import.name)
      ]))) @import

; `use super::*;`
(use_declaration
  argument: (use_wildcard
    .
    (_) @import.source)) @import

(extern_crate_declaration
  name: (identifier) @import.source) @import

; Tags of JavaScript and JSX: definitions, references, imports and scopes. Capture names:
; grammars/README.md. The patterns follow grammars/typescript/tags.scm, less the type syntax.

; Definitions

[
  (function_declaration
    name: (identifier) @name
    body: (statement_block) @body)
  (generator_function_declaration
    name: (identifier) @name
    body: (statement_block) @body)
] @definition.function @scope

; `const parse = (text) => ..` and `var parse = function (..) {..}` at any level.
([
  (lexical_declaration
    (variable_declarator
      name: (identifier) @name
      value: [
        (arrow_function
          body: (_) @body)
        (function_expression
          body: (_) @body)
        (generator_function
          body: (_) @body)
      ]))
  (variable_declaration
    (variable_declarator
      name: (identifier) @name
      value: [
        (arrow_function
          body: (_) @body)
        (function_expression
          body: (_) @body)
        (generator_function
          body: (_) @body)
      ]))
] @definition.function)

; The scope of such a function, when its body is a block.
([
  (lexical_declaration
    (variable_declarator
      value: [
        (arrow_function
          body: (statement_block) @body)
        (function_expression
          body: (statement_block) @body)
        (generator_function
          body: (statement_block) @body)
      ]))
  (variable_declaration
    (variable_declarator
      value: [
        (arrow_function
          body: (statement_block) @body)
        (function_expression
          body: (statement_block) @body)
        (generator_function
          body: (statement_block) @body)
      ]))
] @scope)

; A top-level `const`, exported or not, is a constant unless its value is a function (the pattern
; above, whose kind the extraction prefers).
(program
  [
    (lexical_declaration
      kind: "const"
      (variable_declarator
        name: (identifier) @name)) @definition.constant
    (export_statement
      declaration: (lexical_declaration
        kind: "const"
        (variable_declarator
          name: (identifier) @name)) @definition.constant)
  ])

(class_declaration
  name: (identifier) @name
  body: (class_body) @body) @definition.type @scope

[
  (method_definition
    name: [
      (property_identifier)
      (private_property_identifier)
    ] @name
    body: (statement_block) @body)
  ; `save = async (item) => {..}` in a class body.
  (field_definition
    property: [
      (property_identifier)
      (private_property_identifier)
    ] @name
    value: [
      (arrow_function
        body: (_) @body)
      (function_expression
        body: (_) @body)
    ])
] @definition.method

(method_definition
  body: (statement_block) @body) @scope

(field_definition
  value: [
    (arrow_function
      body: (statement_block) @body)
    (function_expression
      body: (statement_block) @body)
  ]) @scope

; References

((call_expression
  function: (identifier) @reference)
  (#not-eq? @reference "require"))

(call_expression
  function: (member_expression
    property: [
      (property_identifier)
      (private_property_identifier)
    ] @reference))

(new_expression
  constructor: [
    (identifier) @reference
    (member_expression
      property: (property_identifier) @reference)
  ])

(class_heritage
  [
    (identifier) @reference
    (member_expression
      property: (property_identifier) @reference)
  ])

(decorator
  (identifier) @reference)

; Imports

; `import React, { useState as useLocal } from "react"`: the source module's names, except a
; default import, which has only its local name.
(import_statement
  source: (string) @import.source) @import

(import_statement
  (import_clause
    [
      (identifier) @import.name
      (named_imports
        (import_specifier
          name: (identifier) @import.name))
    ])) @import

; `export { parse } from "./parse"` re-exports.
(export_statement
  source: (string) @import.source) @import

(export_statement
  (export_clause
    (export_specifier
      name: (identifier) @import.name))
  source: (string)) @import

; `const fs = require("fs")`
((call_expression
  function: (identifier) @_require
  arguments: (arguments
    .
    (string) @import.source)) @import
  (#eq? @_require "require"))

; JSX: components (capitalized) are references; lowercase tags are HTML elements.
((jsx_opening_element
  name: (identifier) @reference)
  (#match? @reference "^[A-Z]"))

((jsx_self_closing_element
  name: (identifier) @reference)
  (#match? @reference "^[A-Z]"))

(jsx_opening_element
  name: (member_expression
    property: (property_identifier) @reference))

(jsx_self_closing_element
  name: (member_expression
    property: (property_identifier) @reference))

; Tags of TSX: definitions, references, imports and scopes. Capture names: grammars/README.md.
; This is grammars/typescript/tags.scm followed by JSX patterns; a test checks they stay in step.

; Definitions

[
  (function_declaration
    name: (identifier) @name
    body: (statement_block) @body)
  (generator_function_declaration
    name: (identifier) @name
    body: (statement_block) @body)
] @definition.function @scope

; Overloads and `declare function`.
(function_signature
  name: (identifier) @name) @definition.function

; `const parse = (text: string): User => ..` and `const parse = function (..) {..}` at any level.
(lexical_declaration
  (variable_declarator
    name: (identifier) @name
    value: [
      (arrow_function
        body: (_) @body)
      (function_expression
        body: (_) @body)
    ])) @definition.function

; The scope of such a function, when its body is a block.
(lexical_declaration
  (variable_declarator
    value: [
      (arrow_function
        body: (statement_block) @body)
      (function_expression
        body: (statement_block) @body)
    ])) @scope

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

[
  (class_declaration
    name: (type_identifier) @name
    body: (class_body) @body)
  (abstract_class_declaration
    name: (type_identifier) @name
    body: (class_body) @body)
] @definition.type @scope

[
  (method_definition
    name: [
      (property_identifier)
      (private_property_identifier)
    ] @name
    body: (statement_block) @body)
  ; `save = async (item: User) => {..}` in a class body.
  (public_field_definition
    name: [
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

(public_field_definition
  value: [
    (arrow_function
      body: (statement_block) @body)
    (function_expression
      body: (statement_block) @body)
  ]) @scope

[
  (method_signature
    name: (property_identifier) @name)
  (abstract_method_signature
    name: (property_identifier) @name)
] @definition.method

(interface_declaration
  name: (type_identifier) @name
  body: (interface_body) @body) @definition.interface @scope

(type_alias_declaration
  name: (type_identifier) @name) @definition.type

(enum_declaration
  name: (identifier) @name
  body: (enum_body) @body) @definition.type

; `namespace Internal {..}` and `declare module "x" {..}`.
[
  (internal_module
    name: (_) @name
    body: (statement_block) @body)
  (module
    name: (_) @name
    body: (statement_block) @body)
] @definition.module @scope

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

(extends_clause
  value: [
    (identifier) @reference
    (member_expression
      property: (property_identifier) @reference)
  ])

(decorator
  (identifier) @reference)

; Every type name outside its own definition: annotations, generic arguments, `implements`;
; except one-letter names, which are type parameters.
((type_identifier) @reference
  (#not-match? @reference "^[A-Z]$"))

; Imports

; `import Logger, { Level as LogLevel } from "./logger"`: the source module's names, except a
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

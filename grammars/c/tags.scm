; Tags of C: definitions, references, imports and scopes. Capture names: grammars/README.md.

; Definitions

; Functions: the name sits in the declarator, under up to two levels of pointers.
(function_definition
  declarator: [
    (function_declarator
      declarator: (identifier) @name)
    (pointer_declarator
      declarator: [
        (function_declarator
          declarator: (identifier) @name)
        (pointer_declarator
          declarator: (function_declarator
            declarator: (identifier) @name))
      ])
  ]
  body: (compound_statement) @body) @definition.function @scope

; Prototypes, such as `int vector_push(Vector *vector, double item);`.
(declaration
  declarator: [
    (function_declarator
      declarator: (identifier) @name)
    (pointer_declarator
      declarator: [
        (function_declarator
          declarator: (identifier) @name)
        (pointer_declarator
          declarator: (function_declarator
            declarator: (identifier) @name))
      ])
  ]) @definition.function

; Function-like macros.
(preproc_function_def
  name: (identifier) @name) @definition.function

[
  (struct_specifier
    name: (type_identifier) @name
    body: (field_declaration_list) @body)
  (union_specifier
    name: (type_identifier) @name
    body: (field_declaration_list) @body)
  (enum_specifier
    name: (type_identifier) @name
    body: (enumerator_list) @body)
] @definition.type

; `typedef struct Vector {..} Vector;` defines the tag above and this alias, whose header is
; `typedef struct Vector`.
(type_definition
  type: [
    (struct_specifier
      body: (field_declaration_list) @body)
    (union_specifier
      body: (field_declaration_list) @body)
    (enum_specifier
      body: (enumerator_list) @body)
  ]
  declarator: (type_identifier) @name) @definition.type

(type_definition
  declarator: [
    (type_identifier) @name
    (pointer_declarator
      declarator: (type_identifier) @name)
    ; `typedef int (*Comparator)(const void *, const void *);`
    (function_declarator
      declarator: (parenthesized_declarator
        (pointer_declarator
          declarator: (type_identifier) @name)))
  ]) @definition.type

; Object-like macros and top-level `const` variables.
(preproc_def
  name: (identifier) @name) @definition.constant

((translation_unit
  (declaration
    (type_qualifier) @_qualifier
    declarator: (init_declarator
      declarator: (identifier) @name)) @definition.constant)
  (#eq? @_qualifier "const"))

; References

(call_expression
  function: [
    (identifier) @reference
    (field_expression
      field: (field_identifier) @reference)
  ])

; Every type name outside its own definition.
(type_identifier) @reference

; Imports

(preproc_include
  path: (_) @import.source) @import

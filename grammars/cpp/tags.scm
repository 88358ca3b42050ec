; Tags of C++: definitions, references, imports and scopes. Capture names: grammars/README.md.

; Definitions

; Functions: the name sits in the declarator, directly or under a pointer or a reference
; (`(_ (function_declarator ..))`, which the query compiles much faster than listing both).
(function_definition
  declarator: [
    (function_declarator
      declarator: (identifier) @name)
    (_
      (function_declarator
        declarator: (identifier) @name))
  ]
  body: (compound_statement) @body) @definition.function @scope

; Prototypes, such as `int parse(const char *text);`.
(declaration
  declarator: [
    (function_declarator
      declarator: (identifier) @name)
    (_
      (function_declarator
        declarator: (identifier) @name))
  ]) @definition.function

; Methods defined or declared in a class body (constructors and destructors too), and methods
; defined outside it, `void Circle::scale(double factor) {..}`; the patterns above also capture
; some of them as functions, and the extraction keeps the more specific kind.
(field_declaration_list
  [
    ; A function definition, a field declaration or a declaration.
    (_
      declarator: [
        (function_declarator
          declarator: [(field_identifier) (identifier) (destructor_name) (operator_name)] @name)
        (_
          (function_declarator
            declarator: [(field_identifier) (operator_name)] @name))
      ]
      body: (compound_statement)? @body) @definition.method
    (template_declaration
      (function_definition
        declarator: [
          (function_declarator
            declarator: [(field_identifier) (identifier) (operator_name)] @name)
          (_
            (function_declarator
              declarator: [(field_identifier) (operator_name)] @name))
        ]
        body: (compound_statement)? @body) @definition.method)
  ])

(function_definition
  declarator: [
    (function_declarator
      declarator: (qualified_identifier
        name: [(identifier) (destructor_name) (operator_name)] @name))
    (_
      (function_declarator
        declarator: (qualified_identifier
          name: [(identifier) (operator_name)] @name)))
  ]
  body: (compound_statement) @body) @definition.method @scope

; The scope of every function with a body, including the methods above.
(function_definition
  body: (compound_statement) @body) @scope

; Function-like macros.
(preproc_function_def
  name: (identifier) @name) @definition.function

[
  (class_specifier
    name: (type_identifier) @name
    body: (field_declaration_list) @body)
  (struct_specifier
    name: (type_identifier) @name
    body: (field_declaration_list) @body)
] @definition.type @scope

[
  (union_specifier
    name: (type_identifier) @name
    body: (field_declaration_list) @body)
  (enum_specifier
    name: (type_identifier) @name
    body: (enumerator_list) @body)
] @definition.type

(alias_declaration
  name: (type_identifier) @name) @definition.type

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

(namespace_definition
  name: [(namespace_identifier) (nested_namespace_specifier)] @name
  body: (declaration_list) @body) @definition.module @scope

; Object-like macros, and `const` and `constexpr` variables at file or namespace level.
(preproc_def
  name: (identifier) @name) @definition.constant

(([
  (translation_unit
    (declaration
      (type_qualifier) @_qualifier
      declarator: (init_declarator
        declarator: (identifier) @name)) @definition.constant)
  (declaration_list
    (declaration
      (type_qualifier) @_qualifier
      declarator: (init_declarator
        declarator: (identifier) @name)) @definition.constant)
])
  (#any-of? @_qualifier "const" "constexpr"))

; References

; Calls, except of the casts.
((call_expression
  function: [
    (identifier) @reference
    (field_expression
      field: (field_identifier) @reference)
    (qualified_identifier
      name: [
        (identifier) @reference
        (template_function
          name: (identifier) @reference)
      ])
    (template_function
      name: (identifier) @reference)
  ])
  (#not-any-of? @reference "static_cast" "dynamic_cast" "reinterpret_cast" "const_cast"))

; Every type name outside its own definition, except one-letter names (template parameters).
((type_identifier) @reference
  (#not-match? @reference "^[A-Z]$"))

; Imports

(preproc_include
  path: (_) @import.source) @import

; `using namespace std;` and `using std::string;`
(using_declaration
  [(identifier) (qualified_identifier)] @import.source) @import

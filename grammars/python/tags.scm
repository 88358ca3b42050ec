; Tags of Python: definitions, references, imports and scopes. Capture names: grammars/README.md.

; Definitions

(function_definition
  name: (identifier) @name
  body: (block) @body) @definition.function @scope

; A function in a class body, decorated or not, is a method; the pattern above also captures it
; as a function, and the extraction keeps the more specific kind.
(class_definition
  body: (block
    [
      (function_definition
        name: (identifier) @name
        body: (block) @body) @definition.method
      (decorated_definition
        definition: (function_definition
          name: (identifier) @name
          body: (block) @body) @definition.method)
    ]))

(class_definition
  name: (identifier) @name
  body: (block) @body) @definition.type @scope

; `class Store(Protocol)` and `class Store(typing.Protocol[T])` declare interfaces.
(class_definition
  name: (identifier) @name
  superclasses: (argument_list
    [
      (identifier) @_base
      (attribute
        attribute: (identifier) @_base)
      (subscript
        value: [
          (identifier) @_base
          (attribute
            attribute: (identifier) @_base)
        ])
    ])
  body: (block) @body
  (#eq? @_base "Protocol")) @definition.interface

; `type Vector = list[float]` (Python 3.12).
(type_alias_statement
  left: (type
    [
      (identifier) @name
      (generic_type
        (identifier) @name)
    ])) @definition.type

; Module-level assignments to UPPER_CASE names, the convention for constants.
(module
  (expression_statement
    (assignment
      left: (identifier) @name) @definition.constant)
  (#match? @name "^_*[A-Z][A-Z0-9_]*$"))

; References

; Calls, except of the builtins that every reader knows.
((call
  function: (identifier) @reference)
  (#not-any-of? @reference
    "print" "len" "range" "str" "int" "float" "bool" "list" "dict" "set" "tuple" "isinstance"
    "super" "enumerate" "zip" "sorted" "min" "max" "sum" "any" "all" "open" "repr" "type"
    "getattr" "setattr" "hasattr" "iter" "next" "map" "filter" "abs" "round" "id" "hash"))

(call
  function: (attribute
    attribute: (identifier) @reference))

; Types in annotations, except the builtin ones.
((type
  [
    (identifier) @reference
    (generic_type
      (identifier) @reference)
    (attribute
      attribute: (identifier) @reference)
  ])
  (#not-any-of? @reference
    "str" "int" "float" "bool" "bytes" "list" "dict" "set" "frozenset" "tuple" "object" "type"
    "None"))

(class_definition
  superclasses: (argument_list
    [
      (identifier) @reference
      (attribute
        attribute: (identifier) @reference)
    ]))

(decorator
  [
    (identifier) @reference
    (attribute
      attribute: (identifier) @reference)
  ])

; Imports

; `import os.path, json as j` gives one import per module, whose range is that module's clause.
(import_statement
  name: [
    (dotted_name) @import.source
    (aliased_import
      name: (dotted_name) @import.source)
  ] @import)

; `from .storage import FileBackend as Backend, MemoryBackend`
(import_from_statement
  module_name: (_) @import.source) @import

(import_from_statement
  name: [
    (dotted_name) @import.name
    (aliased_import
      name: (dotted_name) @import.name)
  ]) @import

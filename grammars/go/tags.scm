; Tags of Go: definitions, references, imports and scopes. Capture names: grammars/README.md.

; Definitions

(package_clause
  (package_identifier) @name) @definition.module

(function_declaration
  name: (identifier) @name
  body: (block) @body) @definition.function @scope

(method_declaration
  name: (field_identifier) @name
  body: (block) @body) @definition.method @scope

; Types. A declaration of one type is the definition, so that its header reads `type Server
; struct`; in a group, `type ( .. )`, each spec is one. Predicates tell the two apart, as the
; grammar gives both the same shape.
((type_declaration
  [
    (type_spec
      name: (type_identifier) @name
      type: (struct_type
        (field_declaration_list)? @body)?)
    (type_alias
      name: (type_identifier) @name)
  ]) @definition.type
  (#match? @definition.type "^type\\s*[^\\s(]"))

((type_declaration
  [
    (type_spec
      name: (type_identifier) @name
      type: (struct_type
        (field_declaration_list)? @body)?)
    (type_alias
      name: (type_identifier) @name)
  ] @definition.type) @_group
  (#match? @_group "^type\\s*\\("))

((type_declaration
  (type_spec
    name: (type_identifier) @name
    type: (interface_type))) @definition.interface
  (#match? @definition.interface "^type\\s*[^\\s(]"))

((type_declaration
  (type_spec
    name: (type_identifier) @name
    type: (interface_type)) @definition.interface) @_group
  (#match? @_group "^type\\s*\\("))

(interface_type
  (method_elem
    name: (field_identifier) @name) @definition.method)

; Constants, the same way: `const Max = 10` is one definition, `const ( .. )` one per spec.
((const_declaration
  (const_spec
    name: (identifier) @name)) @definition.constant
  (#match? @definition.constant "^const\\s*[^\\s(]"))

((const_declaration
  (const_spec
    name: (identifier) @name) @definition.constant) @_group
  (#match? @_group "^const\\s*\\("))

; References

; Calls, except of the builtins.
((call_expression
  function: (identifier) @reference)
  (#not-any-of? @reference
    "append" "cap" "clear" "close" "complex" "copy" "delete" "imag" "len" "make" "max" "min" "new"
    "panic" "print" "println" "real" "recover"))

(call_expression
  function: (selector_expression
    field: (field_identifier) @reference))

; Every type name outside its own definition, except the predeclared types and one-letter names
; (type parameters).
((type_identifier) @reference
  (#not-any-of? @reference
    "any" "bool" "byte" "comparable" "complex64" "complex128" "error" "float32" "float64" "int"
    "int8" "int16" "int32" "int64" "rune" "string" "uint" "uint8" "uint16" "uint32" "uint64"
    "uintptr")
  (#not-match? @reference "^[A-Z]$"))

; Imports: each spec of `import ( .. )` is one import, without names (Go imports packages).
(import_spec
  path: (_) @import.source) @import

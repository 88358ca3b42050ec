; Tags of Java: definitions, references, imports and scopes. Capture names: grammars/README.md.

; Definitions

(package_declaration
  [(identifier) (scoped_identifier)] @name) @definition.module

[
  (class_declaration
    name: (identifier) @name
    body: (class_body) @body)
  (record_declaration
    name: (identifier) @name
    body: (class_body) @body)
  (enum_declaration
    name: (identifier) @name
    body: (enum_body) @body)
] @definition.type @scope

[
  (interface_declaration
    name: (identifier) @name
    body: (interface_body) @body)
  (annotation_type_declaration
    name: (identifier) @name
    body: (annotation_type_body) @body)
] @definition.interface @scope

; Methods and constructors; abstract and interface methods have no body.
[
  (method_declaration
    name: (identifier) @name
    body: (block)? @body)
  (constructor_declaration
    name: (identifier) @name
    body: (constructor_body) @body)
  (compact_constructor_declaration
    name: (identifier) @name
    body: (block) @body)
] @definition.method

[
  (method_declaration
    body: (block) @body)
  (constructor_declaration
    body: (constructor_body) @body)
  (compact_constructor_declaration
    body: (block) @body)
] @scope

; `static final` fields, and interface fields, which are static and final without saying so.
((field_declaration
  (modifiers) @_modifiers
  declarator: (variable_declarator
    name: (identifier) @name)) @definition.constant
  (#match? @_modifiers "\\bstatic\\b")
  (#match? @_modifiers "\\bfinal\\b"))

(constant_declaration
  declarator: (variable_declarator
    name: (identifier) @name)) @definition.constant

; References

(method_invocation
  name: (identifier) @reference)

; Every type name outside its own definition (`new`, `extends`, `implements`, generic arguments),
; except one-letter names (type parameters) and the package parts of `java.util.List`, which are
; lowercase by convention.
((type_identifier) @reference
  (#match? @reference "^[A-Z]."))

[
  (marker_annotation
    name: (identifier) @reference)
  (annotation
    name: (identifier) @reference)
]

; Imports

; `import java.util.List;` and `import static java.util.Objects.requireNonNull;`
(import_declaration
  (scoped_identifier
    scope: (_) @import.source
    name: (identifier) @import.name)
  .) @import

; `import com.example.store.*;`
(import_declaration
  (scoped_identifier) @import.source
  (asterisk)) @import

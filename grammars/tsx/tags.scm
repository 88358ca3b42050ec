; Tags of TSX: definitions, references, imports and scopes. Capture names: grammars/README.md.
; The TSX grammar is TypeScript's plus JSX, so these are TypeScript's patterns and JSX's:
; inherits: typescript

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

//! Tests of positions, edits, incremental parsing and the language registry.

mod edits;
mod model;
mod positions;
mod random_edits;
mod registry;

//! Tests of positions, edits, incremental parsing, the language registry and the tags queries.

mod edits;
mod index;
mod model;
mod names;
mod positions;
mod random_edits;
mod registry;
mod tags;

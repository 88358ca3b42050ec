//! Post-processing filters applied to a suggestion before it is shown.
//!
//! Each filter is a plain function in its own file; [`pipeline::run`] applies them in the order
//! written there.

pub mod pipeline;
mod trim_suffix_overlap;

pub use pipeline::{run, Surroundings};

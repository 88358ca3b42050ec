//! The post-processing filters, one per file; `crate::pipeline` runs them in order.

pub mod balance_brackets;
pub mod block_scope;
pub mod cap_lines;
pub mod repetition;
pub mod secrets;
pub mod stop_patterns;
pub mod suffix_overlap;
pub mod syntax;

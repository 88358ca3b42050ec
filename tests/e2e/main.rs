//! End-to-end tests: the real `wisp` binary over stdio, with the real default model.

mod bad_input;
mod completion;
mod context;
mod feedback;
mod latency;

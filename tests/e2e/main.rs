//! End-to-end tests: the real `wisp` binary over stdio, with the real default model.

mod actions;
mod bad_input;
mod completion;
mod context;
mod feedback;
mod guard;
mod latency;
mod observability;
mod remote;

//! The assembler room: dynasm-rs wrappers, executable memory (W^X: written, then made
//! read+execute; never both), code-size accounting for the `memory=` limits, and code dumps
//! decoded by iced-x86. Filled in by the compiler issue.

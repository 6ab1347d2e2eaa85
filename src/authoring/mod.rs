//! Policy authoring: checking that a policy does what its author meant before it guards a
//! socket. [`cases`] runs request cases through the serving code path; [`rego_tests`] runs the
//! `test_*` rules of a bundle with OPA's semantics; [`runner`] finds bundles and runs both for
//! `sockguard test`, and [`report`] renders the result.

pub mod cases;
pub mod parity;
pub mod rego_tests;
pub mod report;
pub mod runner;

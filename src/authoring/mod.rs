//! Policy authoring: checking that a policy does what its author meant before it guards a
//! socket. [`cases`] runs request cases through the serving code path; [`rego_tests`] runs the
//! `test_*` rules of a bundle with OPA's semantics.

pub mod cases;
pub mod rego_tests;

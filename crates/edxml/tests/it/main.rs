//! Integration tests of the edxml crate, through its public interface only.
#![allow(unreachable_pub, reason = "helpers shared between the test modules")]

mod agency_codes;
mod bad_inputs;
mod business;
mod conformance;
mod fuzz_regressions;
mod roundtrip;
mod support;
mod tolerances;

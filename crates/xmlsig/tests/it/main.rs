//! xmlsig through its public interface, checked by xmlsec1 (which `scripts/test.sh` installs).
#![allow(unreachable_pub, reason = "helpers shared with the test modules")]

mod c14n;
mod interop;
mod signatures;
mod support;

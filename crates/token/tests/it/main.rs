//! Keys in SoftHSM2, checked by tools nobody on this team wrote: `openssl verify`, `openssl crl`,
//! `openssl ocsp` and OpenSC's `pkcs11-tool` (`scripts/test.sh` installs SoftHSM2 and OpenSC).
//!
//! SoftHSM reads its configuration (`SOFTHSM2_CONF`) when the module is initialised, once per
//! process. So each test runs in a child process of this binary with its own configuration and
//! token directory: see [`softhsm_test!`].
#![allow(unreachable_pub, reason = "helpers shared with the test modules")]

mod ca;
mod pins;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use token::Token;

pub const SO_PIN: &str = "unblock-5678";
pub const USER_PIN: &str = "user-1234";

/// Set in the child process: the test's own directory, holding `softhsm2.conf` and `tokens/`.
const TEST_DIR: &str = "LIENTHONG_TOKEN_TEST_DIR";

/// A test run against a fresh SoftHSM of its own, in a child process of this test binary.
macro_rules! softhsm_test {
    ($name:ident, |$hsm:ident| $body:block) => {
        #[test]
        fn $name() {
            $crate::isolated(module_path!(), stringify!($name), |$hsm: &$crate::Hsm| $body)
        }
    };
}
pub(crate) use softhsm_test;

/// A SoftHSM whose tokens live in a directory of their own.
#[derive(Debug)]
pub struct Hsm {
    pub dir: PathBuf,
}

pub fn isolated(module: &str, name: &str, body: impl FnOnce(&Hsm)) {
    if let Ok(dir) = std::env::var(TEST_DIR) {
        return body(&Hsm { dir: PathBuf::from(dir) });
    }
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("tokens")).expect("tokens dir");
    let conf = dir.path().join("softhsm2.conf");
    let settings = format!(
        "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
        p(&dir.path().join("tokens"))
    );
    std::fs::write(&conf, settings).expect("write conf");
    let test = module.split_once("::").map_or(name.to_owned(), |(_, path)| format!("{path}::{name}"));
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([&test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(TEST_DIR, dir.path())
        .output()
        .expect("runs the test binary");
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{test} failed in its child process:\n{text}");
    assert!(text.contains("1 passed"), "{test} did not run in its child process:\n{text}");
}

impl Hsm {
    pub fn module(&self) -> &Path {
        Path::new(token::SOFTHSM2_MODULE)
    }

    /// A new token labelled `label`, logged in.
    pub fn token(&self, label: &str) -> Token {
        token::init_token(self.module(), label, SO_PIN, USER_PIN).expect("init token");
        Token::open(self.module(), label, USER_PIN).expect("open token")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn write_pem(&self, name: &str, label: &str, der: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, pem(label, der)).expect("write");
        path
    }
}

pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("ascii")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

pub fn run(program: &str, args: &[&str]) -> (i32, String) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/test.sh installs it): {e}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

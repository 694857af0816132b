//! `lienthong ca` with its keys in a PKCS#11 token, and subscribers' key devices it unblocks:
//! SoftHSM2 as the device, checked with `openssl` and OpenSC's `pkcs11-tool`.
//!
//! SoftHSM reads `SOFTHSM2_CONF` once per process, so every test gets a token directory of its
//! own and passes it to the processes it runs; this process never loads the module.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use store::{AuditStore as _, Store};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const CA_TOKEN: &str = "ca-hsm";
const CA_PIN: &str = "ca-pin-2468";
const CA_SO_PIN: &str = "ca-so-13579";
const PASSPHRASE: &str = "correct horse battery";

/// A SoftHSM of the test's own: its configuration and token directory.
struct Hsm {
    dir: tempfile::TempDir,
}

impl Hsm {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir(dir.path().join("tokens")).expect("tokens dir");
        let conf = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            p(&dir.path().join("tokens"))
        );
        std::fs::write(dir.path().join("softhsm2.conf"), conf).expect("conf");
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A command that sees this SoftHSM and none of the caller's lienthong settings.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SOFTHSM2_CONF", self.path("softhsm2.conf"));
        for var in [
            "LIENTHONG_CA_PASSPHRASE",
            "LIENTHONG_CA_PIN",
            "LIENTHONG_CA_STORE_URL",
            "LIENTHONG_CA_PUBLIC_URL",
            "LIENTHONG_DEVICE_PIN",
            "LIENTHONG_UNBLOCK_CODE",
            "LIENTHONG_NEW_PIN",
        ] {
            command.env_remove(var);
        }
        command
    }

    fn lienthong(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(env!("CARGO_BIN_EXE_lienthong"));
        command.args(args).envs(env.iter().copied());
        command.output().expect("lienthong runs")
    }

    fn ok(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let output = self.lienthong(args, env);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn fails(&self, args: &[&str], env: &[(&str, &str)], message: &str) {
        let output = self.lienthong(args, env);
        assert_eq!(output.status.code(), Some(2), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: expected {message:?} in {stderr}");
    }

    /// A token initialised with SoftHSM's own tool, as an HSM's administrator would.
    fn init_token(&self, label: &str, so_pin: &str, pin: &str) {
        let output = self
            .command("softhsm2-util")
            .args(["--init-token", "--free", "--label", label, "--so-pin", so_pin, "--pin", pin])
            .output()
            .expect("softhsm2-util is installed");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }

    /// `pkcs11-tool` on the token labelled `label`; its exit status and output.
    fn pkcs11_tool(&self, label: &str, args: &[&str]) -> (bool, String) {
        let output = self
            .command("pkcs11-tool")
            .args(["--module", MODULE, "--token-label", label])
            .args(args)
            .output()
            .expect("pkcs11-tool is installed");
        (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn logs_in(&self, label: &str, pin: &str) -> bool {
        self.pkcs11_tool(label, &["--login", "--pin", pin, "--list-objects"]).0
    }
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

fn openssl(args: &[&str]) -> (i32, String) {
    let output = Command::new("openssl").args(args).output().expect("openssl is installed");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
    )
}

/// Kills the server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[test]
fn a_ca_on_a_token_issues_what_openssl_verifies_and_answers_ocsp() {
    let hsm = Hsm::new();
    hsm.init_token(CA_TOKEN, CA_SO_PIN, CA_PIN);
    let ca = hsm.path("ca");
    let init = ["ca", "init", "--dir", p(&ca), "--pkcs11-token", CA_TOKEN, "--pkcs11-module", MODULE];
    hsm.fails(&init, &[("LIENTHONG_CA_PIN", "not-the-pin")], "wrong PIN for token \"ca-hsm\"");
    assert!(!ca.exists(), "a wrong PIN wrote nothing");
    let mut unknown = init;
    unknown[5] = "ca-hms";
    hsm.fails(&unknown, &[("LIENTHONG_CA_PIN", CA_PIN)], "no token labelled \"ca-hms\" (tokens present: [\"ca-hsm\"])");
    hsm.fails(&init, &[], "set LIENTHONG_CA_PIN");
    assert!(!ca.exists());
    assert!(!hsm.pkcs11_tool(CA_TOKEN, &["--login", "--pin", CA_PIN, "--list-objects"]).1.contains("lienthong"));

    let pin = [("LIENTHONG_CA_PIN", CA_PIN)];
    let out = hsm.ok(&init, &pin);
    assert!(out.contains("with its keys in token \"ca-hsm\""), "{out}");
    assert!(!ca.join("keys").exists(), "no key file is written");
    let again = hsm.path("again");
    let mut twice = init;
    twice[3] = p(&again);
    hsm.fails(&twice, &pin, "already holds a key labelled \"lienthong-root\"");
    assert!(!again.exists());

    let (cert, key) = (hsm.path("org.pem"), hsm.path("org.key"));
    hsm.ok(
        &[
            "ca",
            "issue",
            "--dir",
            p(&ca),
            "--profile",
            "organization",
            "--subject",
            "CN=Bộ Tài chính,O=Bộ Tài chính",
            "--agency",
            "000.00.00.G12",
            "--key-out",
            p(&key),
            "--out",
            p(&cert),
        ],
        &pin,
    );
    let (code, text) = openssl(&["verify", "-CAfile", p(&ca.join("chain.pem")), p(&cert)]);
    assert_eq!(code, 0, "{text}");
    hsm.fails(&["ca", "crl", "--dir", p(&ca), "--out", p(&hsm.path("x.crl"))], &[], "set LIENTHONG_CA_PIN");

    let url = serve(&hsm, &ca, |url| {
        let text = ocsp(&hsm, &ca, &cert, url);
        assert!(text.contains("Response verify OK") && text.contains("org.pem: good"), "{text}");
    });
    let (_, objects) = hsm.pkcs11_tool(CA_TOKEN, &["--login", "--pin", CA_PIN, "--list-objects"]);
    for label in ["lienthong-root", "lienthong-issuing", "lienthong-ocsp", "lienthong-tsa"] {
        assert!(objects.contains(&format!("label:      {label}\n")), "{label} in {objects}");
    }

    // A responder certificate that is gone is issued again, for a new key with a fresh label.
    std::fs::remove_file(ca.join("ocsp.pem")).expect("remove");
    serve(&hsm, &ca, |url| {
        let text = ocsp(&hsm, &ca, &cert, url);
        assert!(text.contains("Response verify OK") && text.contains("org.pem: good"), "{text}");
    });
    let label = std::fs::read_to_string(ca.join("ocsp.key-label")).expect("label");
    assert!(label.starts_with("lienthong-ocsp-"), "{label}");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
}

/// Runs `ca serve` on the token CA while `check` asks it things; returns its URL.
fn serve(hsm: &Hsm, ca: &Path, check: impl FnOnce(&str)) -> String {
    use std::io::BufRead as _;
    let mut child = hsm
        .command(env!("CARGO_BIN_EXE_lienthong"))
        .args(["ca", "serve", "--dir", p(ca), "--listen", "127.0.0.1:0"])
        .env("LIENTHONG_CA_PIN", CA_PIN)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let _server = Server(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("the server says where it listens");
    let url = line.trim().rsplit(' ').next().expect("url").to_owned();
    check(&url);
    url
}

fn ocsp(hsm: &Hsm, ca: &Path, cert: &Path, url: &str) -> String {
    let chain = std::fs::read_to_string(ca.join("chain.pem")).expect("chain");
    let issuing = hsm.path("issuing.pem");
    let first_end = chain.find("-----END CERTIFICATE-----").expect("pem") + "-----END CERTIFICATE-----\n".len();
    std::fs::write(&issuing, &chain[..first_end]).expect("write");
    openssl(&[
        "ocsp",
        "-issuer",
        p(&issuing),
        "-cert",
        p(cert),
        "-url",
        &format!("{url}/ocsp"),
        "-CAfile",
        p(&ca.join("chain.pem")),
    ])
    .1
}

#[test]
fn key_devices_are_unblocked_with_the_code_the_authority_keeps() {
    let hsm = Hsm::new();
    hsm.init_token(CA_TOKEN, CA_SO_PIN, CA_PIN);
    let ca = hsm.path("ca");
    let ca_dir = p(&ca);
    let secrets = [("LIENTHONG_CA_PIN", CA_PIN), ("LIENTHONG_CA_PASSPHRASE", PASSPHRASE)];
    hsm.ok(&["ca", "init", "--dir", ca_dir, "--pkcs11-token", CA_TOKEN], &secrets);
    let with = |extra: (&'static str, &'static str)| [secrets[0], secrets[1], extra];

    let enroll = ["ca", "device", "enroll", "--dir", ca_dir, "--token", "the-a", "--holder", "Nguyễn Văn A"];
    hsm.fails(&enroll, &secrets, "set LIENTHONG_DEVICE_PIN");
    let out = hsm.ok(&enroll, &with(("LIENTHONG_DEVICE_PIN", "1111")));
    assert!(out.contains("\"the-a\" initialised and enrolled") && !out.contains("1111"), "{out}");
    assert!(hsm.logs_in("the-a", "1111"));
    hsm.fails(&enroll, &with(("LIENTHONG_DEVICE_PIN", "1111")), "already enrolled: nothing was changed");

    let unblock = ["ca", "device", "unblock", "--dir", ca_dir, "--token", "the-a"];
    hsm.fails(&unblock, &secrets, "set LIENTHONG_NEW_PIN");
    let new_pin = with(("LIENTHONG_NEW_PIN", "2222"));
    let out = hsm.ok(&unblock, &new_pin);
    assert!(out.contains("\"the-a\" unblocked"), "{out}");
    assert!(hsm.logs_in("the-a", "2222") && !hsm.logs_in("the-a", "1111"), "the new PIN replaced the old");
    let wrong_passphrase = [secrets[0], ("LIENTHONG_CA_PASSPHRASE", "wrong horse battery"), new_pin[2]];
    hsm.fails(&unblock, &wrong_passphrase, "wrong passphrase");
    let mut unknown = unblock;
    unknown[6] = "the-b";
    hsm.fails(&unknown, &new_pin, "no key device labelled \"the-b\" is enrolled");

    // A token initialised elsewhere is registered only with its right unblock code.
    hsm.init_token("the-c", "so-9876", "3333");
    let register = ["ca", "device", "enroll", "--dir", ca_dir, "--token", "the-c", "--agency", "000.00.00.G22"];
    let mistyped =
        [secrets[0], ("LIENTHONG_CA_PASSPHRASE", "correct horse battey"), ("LIENTHONG_UNBLOCK_CODE", "so-9876")];
    hsm.fails(&register, &mistyped, "LIENTHONG_CA_PASSPHRASE does not open the unblock code kept for \"the-a\"");
    hsm.fails(&register, &with(("LIENTHONG_UNBLOCK_CODE", "so-0000")), "wrong unblock code for token \"the-c\"");
    hsm.ok(&register, &with(("LIENTHONG_UNBLOCK_CODE", "so-9876")));
    // Its unblock code is changed behind the authority's back: unblocking is refused, and says why.
    let (changed, _) = hsm.pkcs11_tool(
        "the-c",
        &["--login", "--login-type", "so", "--so-pin", "so-9876", "--change-pin", "--new-pin", "so-5555"],
    );
    assert!(changed);
    let mut refused = unblock;
    refused[6] = "the-c";
    hsm.fails(&refused, &new_pin, "wrong unblock code for token \"the-c\": the device does not take the unblock code");
    assert!(hsm.logs_in("the-c", "3333"), "a refused unblock changed nothing");

    // A PIN the token refuses after it was initialised: the unblock code is kept all the same.
    let short = ["ca", "device", "enroll", "--dir", ca_dir, "--token", "the-d"];
    hsm.fails(&short, &with(("LIENTHONG_DEVICE_PIN", "12")), "enrolled, without a user PIN");
    let mut later = unblock;
    later[6] = "the-d";
    hsm.ok(&later, &new_pin);
    assert!(hsm.logs_in("the-d", "2222"));

    let out = hsm.ok(&["ca", "audit", "verify", "--dir", ca_dir], &secrets);
    assert!(out.contains("audit log intact"), "{out}");
    let actions = audit_actions(&ca);
    assert_eq!(
        actions,
        [
            "device.enrolled",
            "device.unblocked",
            "device.enrolled",
            "device.unblock_refused",
            "device.enrolled",
            "device.unblocked"
        ]
    );
}

/// The actions in the audit log of the CA in `dir`.
fn audit_actions(dir: &Path) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = Store::open(&format!("sqlite://{}", p(&dir.join("ca.sqlite")))).await.expect("store");
        let entries = store.audit_entries(0, 100).await.expect("audit");
        store.close().await;
        entries.into_iter().map(|e| e.action).collect()
    })
}

//! The exchange as separate processes, set up with the commands an operator uses (`ca init`,
//! `hub init`, `gateway init`, `hub agency add`, the registry API, `hub host`, `gateway client
//! add`) and run with `ca serve`, `hub serve` and `gateway serve`:
//!
//! - two hub processes share one store (PostgreSQL when `LIENTHONG_TEST_POSTGRES` is set, as in
//!   CI) and one listening port;
//! - while a client system submits 2,000 documents, hubs and gateways are killed with SIGKILL at
//!   random moments and restarted; every document ends in the recipient's inbox exactly once, and
//!   every receipt (01) reaches the sender;
//! - with every hub down for a minute, documents wait in the outbox and drain once a hub is back.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

const DOCUMENTS: usize = 2000;
const SUBMITTERS: usize = 4;
const PASSPHRASE: &str = "a test passphrase for node keys";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_lienthong")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The network's directories and environment.
struct Network {
    dir: PathBuf,
    env: Vec<(String, String)>,
    ca_port: u16,
    hub_port: u16,
    /// The operator's registry token `hub init` printed.
    token: String,
}

impl Network {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(bin());
        command.args(args).current_dir(&self.dir);
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    fn run(&self, args: &[&str]) -> String {
        let output = self.command(args).output().expect("lienthong runs");
        assert!(output.status.success(), "lienthong {args:?}: {}", text(&output.stderr));
        text(&output.stdout)
    }

    fn spawn(&self, args: &[&str], log: &str) -> Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join(log)).expect("log");
        self.command(args).stdout(log.try_clone().expect("log")).stderr(log).spawn().expect("lienthong starts")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A long-running process, killed with SIGKILL when dropped.
struct Service {
    child: Option<Child>,
    args: Vec<String>,
    log: String,
}

impl Service {
    fn start(net: &Network, args: &[&str], log: &str) -> Self {
        let child = net.spawn(args, log);
        Self { child: Some(child), args: args.iter().map(|a| (*a).to_owned()).collect(), log: log.to_owned() }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Restarts the process if it has exited on its own, as a supervisor (systemd's
    /// `Restart=always`) would; says whether it had.
    fn supervise(&mut self, net: &Network) -> bool {
        let exited = self.child.as_mut().is_none_or(|child| child.try_wait().ok().flatten().is_some());
        if exited {
            self.restart(net);
        }
        exited
    }

    fn restart(&mut self, net: &Network) {
        self.kill();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        self.child = Some(net.spawn(&args, &self.log));
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn reachable(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl").args(args).output().expect("curl runs")
}

fn sqlite_count(db: &Path, sql: &str) -> i64 {
    let output = Command::new("sqlite3").args([path(db), sql]).output().expect("sqlite3 runs");
    text(&output.stdout).trim().parse().unwrap_or(-1)
}

/// A PostgreSQL database for the hubs, when the test environment has a server.
struct Postgres {
    runtime: tokio::runtime::Runtime,
    database: Option<store::testing::TestDatabase>,
}

impl Postgres {
    fn create() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let database = match std::env::var("LIENTHONG_TEST_POSTGRES") {
            Ok(server) => Some(runtime.block_on(store::testing::TestDatabase::create(&server)).expect("database")),
            Err(_) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI runs the hubs on PostgreSQL: set LIENTHONG_TEST_POSTGRES"
                );
                eprintln!("LIENTHONG_TEST_POSTGRES is not set: the two hubs share a SQLite store instead");
                None
            }
        };
        Self { runtime, database }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(database) = self.database.take() {
            self.runtime.block_on(database.remove()).ok();
        }
    }
}

fn set_up(dir: &Path, postgres: &Postgres) -> Network {
    let ca_port = free_port();
    let hub_port = free_port();
    let env = vec![
        ("LIENTHONG_CA_PASSPHRASE".to_owned(), PASSPHRASE.to_owned()),
        ("LIENTHONG_KEY_PASSPHRASE".to_owned(), PASSPHRASE.to_owned()),
        ("LIENTHONG_CA_PUBLIC_URL".to_owned(), format!("http://127.0.0.1:{ca_port}")),
    ];
    let mut net = Network { dir: dir.to_owned(), env, ca_port, hub_port, token: String::new() };
    net.run(&["ca", "init", "--dir", "ca"]);
    let hub_listen = format!("127.0.0.1:{hub_port}");
    let init = net.run(&["hub", "init", "--dir", "hub", "--ca-dir", "ca", "--listen", &hub_listen]);
    net.token = init.lines().find_map(|l| l.split("is kept): ").nth(1)).expect("operator token").trim().to_owned();
    let settings = std::fs::read_to_string(net.file("hub/hub.toml")).expect("hub.toml");
    let store = match &postgres.database {
        Some(database) => database.url(),
        None => String::new(),
    };
    let settings = settings
        .replace("store_url = \"\"", &format!("store_url = \"{store}\""))
        .replace("reuse_port = false", "reuse_port = true");
    std::fs::write(net.file("hub/hub.toml"), settings).expect("hub.toml");
    let hub_url = format!("https://localhost:{hub_port}");
    for (dir, code, name) in
        [("g22", "000.00.00.G22", "Văn phòng Chính phủ"), ("h41", "000.00.00.H41", "UBND tỉnh Nghệ An")]
    {
        let listen = format!("127.0.0.1:{}", free_port());
        net.run(&[
            "gateway", "init", "--dir", dir, "--agency", code, "--name", name, "--hub", &hub_url, "--ca-dir", "ca",
            "--listen", &listen,
        ]);
    }
    net.run(&[
        "hub",
        "agency",
        "add",
        "--dir",
        "hub",
        "--code",
        "000.00.00.G22",
        "--name",
        "VPCP",
        "--gateway-cert",
        "g22/tls.pem",
    ]);
    net.run(&[
        "hub",
        "host",
        "--dir",
        "hub",
        "--agency",
        "000.00.00.H14",
        "--name",
        "UBND tỉnh Cao Bằng",
        "--ca-dir",
        "ca",
    ]);
    net
}

impl Network {
    fn hub_url(&self) -> String {
        format!("https://localhost:{}", self.hub_port)
    }

    /// A registry call with the operator's token (or `token`), as curl sends it.
    fn registry(&self, method: &str, route: &str, body: Option<&str>, token: &str) -> (u16, String) {
        let url = format!("{}{route}", self.hub_url());
        let auth = format!("Authorization: Bearer {token}");
        let mut args = vec!["-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert", "hub/root.pem", "-X", method];
        args.extend(["-H", &auth, "-H", "Content-Type: application/json"]);
        if let Some(body) = body {
            args.extend(["--data-binary", body]);
        }
        args.push(&url);
        let output = Command::new("curl").args(&args).current_dir(&self.dir).output().expect("curl");
        let all = text(&output.stdout);
        let (body, status) = all.rsplit_once('\n').unwrap_or((&all, "0"));
        (status.trim().parse().unwrap_or(0), body.to_owned())
    }
}

fn gateway_url(net: &Network, dir: &str) -> String {
    let settings = std::fs::read_to_string(net.file(&format!("{dir}/gateway.toml"))).expect("gateway.toml");
    let listen =
        settings.lines().find_map(|l| l.strip_prefix("listen = \"")).and_then(|l| l.strip_suffix('"')).expect("listen");
    format!("https://localhost:{}", listen.rsplit_once(':').expect("port").1)
}

fn api_key(net: &Network, dir: &str) -> String {
    let out = net.run(&["gateway", "client", "add", "--dir", dir, "--name", "QLVB"]);
    out.lines()
        .find_map(|l| l.split("(shown once): ").nth(1).filter(|_| l.contains("API key")))
        .expect("key")
        .to_owned()
}

/// Submits document `n` until the gateway accepts it (it may be down, being killed).
fn submit(net: &Network, url: &str, key: &str, n: usize) {
    let auth = format!("Authorization: Bearer {key}");
    let reference = format!("Idempotency-Key: doc-{n}");
    let endpoint = format!("{url}/api/v1/packages");
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(300) {
        let output = curl(&[
            "-sS",
            "-w",
            "\n%{http_code}",
            "--max-time",
            "30",
            "--cacert",
            path(&net.file("hub/root.pem")),
            "-H",
            &auth,
            "-H",
            &reference,
            "-H",
            "Content-Type: application/xml",
            "--data-binary",
            &format!("@{}", path(&net.file("doc.edxml"))),
            &endpoint,
        ]);
        let answer = text(&output.stdout);
        if output.status.success() && (answer.ends_with("200") || answer.ends_with("202")) {
            return;
        }
        last = format!("curl {:?}: {answer} {}", output.status.code(), text(&output.stderr));
        std::thread::sleep(Duration::from_millis(200));
    }
    let tail = |log: &str| {
        let all = std::fs::read_to_string(net.file(log)).unwrap_or_default();
        all.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    };
    panic!(
        "document {n} was not accepted within 5 minutes; last answer: {last}\n--- g22.log\n{}\n--- hub-a.log\n{}\n--- hub-b.log\n{}",
        tail("g22.log"),
        tail("hub-a.log"),
        tail("hub-b.log")
    );
}

#[test]
fn nothing_is_lost_when_hubs_and_gateways_are_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let postgres = Postgres::create();
    let net = set_up(dir.path(), &postgres);
    let ca_listen = format!("127.0.0.1:{}", net.ca_port);
    let _ca = Service::start(&net, &["ca", "serve", "--dir", "ca", "--listen", &ca_listen], "ca.log");
    wait_until("the CA", Duration::from_secs(60), || reachable(net.ca_port));
    let mut hubs = [
        Service::start(&net, &["hub", "serve", "--dir", "hub"], "hub-a.log"),
        Service::start(&net, &["hub", "serve", "--dir", "hub"], "hub-b.log"),
    ];
    wait_until("the hubs", Duration::from_secs(60), || reachable(net.hub_port));

    // The registry by API: the operator's token is needed; Nghệ An's gateway is registered.
    let certificate = std::fs::read_to_string(net.file("h41/tls.pem")).expect("tls.pem");
    let body = serde_json::json!({"name": "UBND tỉnh Nghệ An", "gateway_certificate": certificate}).to_string();
    let (status, text) = net.registry("PUT", "/v1/registry/agencies/000.00.00.H41", Some(&body), "lt_wrong");
    assert_eq!(status, 401, "{text}");
    let (status, text) = net.registry("PUT", "/v1/registry/agencies/000.00.00.H41", Some(&body), &net.token);
    assert_eq!(status, 201, "{text}");
    let wrong = serde_json::json!({"name": "Sai", "gateway_certificate": certificate}).to_string();
    let (status, text) = net.registry("PUT", "/v1/registry/agencies/000.00.00.H42", Some(&wrong), &net.token);
    assert_eq!(status, 400, "a certificate for another agency is refused: {text}");
    let (status, text) = net.registry("GET", "/v1/registry/agencies", None, &net.token);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("000.00.00.H41") && !text.contains("000.00.00.H42"), "{text}");

    let office_url = gateway_url(&net, "g22");
    let office_key = api_key(&net, "g22");
    let mut gateways = [
        Service::start(&net, &["gateway", "serve", "--dir", "g22"], "g22.log"),
        Service::start(&net, &["gateway", "serve", "--dir", "h41"], "h41.log"),
    ];
    let header = net.run(&["edxml", "build", "--example"]).replace("000.00.00.G12", "000.00.00.H14");
    std::fs::write(net.file("header.toml"), header).expect("header");
    std::fs::write(net.file("note.txt"), "Nội dung văn bản thử nghiệm.").expect("attachment");
    net.run(&["edxml", "build", "--header", "header.toml", "--attach", "note.txt", "--out", "doc.edxml"]);
    let office_port: u16 = office_url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    wait_until("the Office's gateway", Duration::from_secs(60), || reachable(office_port));

    // Chaos while documents are submitted: a hub or a gateway killed every few seconds.
    let submitted = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        // Four client threads, as a document-management system with several clerks.
        let submitter = scope.spawn(|| {
            std::thread::scope(|clerks| {
                for clerk in 0..SUBMITTERS {
                    let (net, url, key, submitted) = (&net, &office_url, &office_key, &submitted);
                    clerks.spawn(move || {
                        for n in (clerk..DOCUMENTS).step_by(SUBMITTERS) {
                            submit(net, url, key, n);
                            submitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    });
                }
            });
        });
        let mut seed = 0x2545_f491_4f6c_dd1d_u64 ^ u64::from(std::process::id());
        let mut kills = 0;
        while !submitter.is_finished() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            std::thread::sleep(Duration::from_millis(1500 + seed % 2500));
            let victim = (seed >> 8) % 4;
            match victim {
                0 | 1 => hubs[victim as usize].restart(&net),
                _ => gateways[(victim - 2) as usize].restart(&net),
            }
            kills += 1;
            for service in hubs.iter_mut().chain(gateways.iter_mut()) {
                if service.supervise(&net) {
                    eprintln!("a process had exited on its own and was restarted (see its log)");
                }
            }
        }
        submitter.join().expect("submitter");
        assert_eq!(submitted.load(std::sync::atomic::Ordering::Relaxed), DOCUMENTS);
        eprintln!("{kills} processes killed with SIGKILL and restarted during {DOCUMENTS} submissions");
        assert!(kills >= 3, "the run must kill something");
        for service in hubs.iter_mut().chain(gateways.iter_mut()) {
            service.supervise(&net);
        }
    });

    let inbox = net.file("h41/gateway.sqlite");
    let outbox = net.file("g22/gateway.sqlite");
    let expected = i64::try_from(DOCUMENTS).expect("count");
    wait_until("every document in Nghệ An's inbox", Duration::from_secs(600), || {
        sqlite_count(&inbox, "SELECT COUNT(*) FROM gw_inbox WHERE kind = 'document'") >= expected
    });
    assert_eq!(
        sqlite_count(&outbox, "SELECT COUNT(*) FROM gw_outbox WHERE kind = 'document'"),
        expected,
        "one package per submission"
    );
    assert_eq!(
        sqlite_count(&inbox, "SELECT COUNT(DISTINCT package_id) FROM gw_inbox WHERE kind = 'document'"),
        expected,
        "each exactly once"
    );
    wait_until("every receipt back at the Office", Duration::from_secs(600), || {
        sqlite_count(&outbox, "SELECT COUNT(*) FROM gw_inbox WHERE kind = 'status' AND sender = '000.00.00.H41'")
            >= expected
    });

    // Every hub down for a minute: the Office's documents wait, and drain when a hub is back.
    for hub in &mut hubs {
        hub.kill();
    }
    for n in DOCUMENTS..DOCUMENTS + 20 {
        submit(&net, &office_url, &office_key, n);
    }
    std::thread::sleep(Duration::from_secs(60));
    assert_eq!(sqlite_count(&inbox, "SELECT COUNT(*) FROM gw_inbox WHERE kind = 'document'"), expected);
    hubs[0].restart(&net);
    wait_until("the outbox drained after the outage", Duration::from_secs(300), || {
        sqlite_count(&inbox, "SELECT COUNT(*) FROM gw_inbox WHERE kind = 'document'") == expected + 20
    });
    assert_eq!(
        sqlite_count(&outbox, "SELECT COUNT(*) FROM gw_outbox WHERE sent_at IS NULL"),
        sqlite_count(&outbox, "SELECT COUNT(*) FROM gw_outbox WHERE sent_at IS NULL AND kind = 'status'"),
        "every document handed to the hub"
    );
}

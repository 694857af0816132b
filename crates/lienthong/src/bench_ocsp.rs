//! OCSP responses per second over HTTP under concurrent load: `lienthong ca serve`, run as its own
//! process on a fresh CA, beside `openssl ocsp -index` as a responder, both asked by one load
//! generator with the same request bytes in the same run.
//!
//! The load generator is `wrk`, a separate process kept to one thread so that the servers have the
//! other core; without it an in-process client stands in, and the table says so.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::bench_ca::{openssl_in, tempfile_dir};

/// Connections the load generator keeps open (it opens a new one whenever a server closes one).
const CONNECTIONS: usize = 32;
/// How long each figure is measured.
const MEASURE: Duration = Duration::from_secs(5);
/// Tokio worker threads tried for `ca serve`; its best figure is compared.
const OUR_WORKERS: [usize; 2] = [1, 2];
/// `-multi` values tried for the peer; its best figure is compared.
const PEER_PROCESSES: [usize; 3] = [1, 2, 4];
/// Seals the keys of the throwaway CA created in a temporary directory for the run.
const PASSPHRASE: &str = "lienthong bench throwaway CA";

pub(crate) fn run() -> Result<()> {
    let dir = tempfile_dir()?;
    let result = measure(&dir);
    std::fs::remove_dir_all(&dir).ok();
    result
}

fn measure(dir: &Path) -> Result<()> {
    fresh_ca(dir)?;
    let plain = Request::write(dir, "plain.der", &["-no_nonce"])?;
    let with_nonce = Request::write(dir, "nonce.der", &[])?;
    let client = Client::find(dir)?;
    println!("\nOCSP over HTTP — {}, {} s per figure, the same request bytes to both", client, MEASURE.as_secs());
    println!(
        "{:<62} {:>11} {:>12} {:>14} {:>14}",
        "responder", "connection", "responses/s", "its CPU µs/ans", "wrk CPU µs/ans"
    );
    let plain_closing = Request { close: true, ..plain.clone() };
    let (mut cached, mut signed, mut closing, mut theirs) = (0f64, 0f64, 0f64, 0f64);
    let mut presigned = Vec::new();
    for workers in OUR_WORKERS {
        let server = Ours::start(dir, workers)?;
        let label = format!("lienthong ca serve, {workers} worker{}", if workers == 1 { "" } else { "s" });
        let at = server.at();
        presigned = probe(at.address, &plain).context("ca serve's pre-signed answer")?.answer;
        cached = cached.max(figure(&client, at, &plain, &format!("{label}: pre-signed (no nonce)"))?);
        signed = signed.max(figure(&client, at, &with_nonce, &format!("{label}: signed (nonce)"))?);
        closing = closing.max(figure(&client, at, &plain_closing, &format!("{label}: pre-signed, Connection: close"))?);
    }
    let ceiling = Ours::ceiling(dir, &presigned)?;
    let ceiling = figure(&client, ceiling.at(), &plain, "CEILING: one fixed pre-built answer, 1 thread")?;
    for processes in PEER_PROCESSES {
        let peer = Peer::start(dir, processes, &with_nonce)?;
        let label = format!("openssl ocsp -index -multi {processes} (signs every answer)");
        theirs = theirs.max(figure(
            &client,
            At { address: &peer.address, group: Some(peer.child.id()) },
            &with_nonce,
            &label,
        )?);
    }
    let ratio = |label: &str, ours: f64| println!("{label:<62} {:>24.1}x", ours / theirs);
    ratio("lienthong pre-signed vs openssl (best of each)", cached);
    ratio("lienthong signed per request vs openssl (best of each)", signed);
    ratio("lienthong pre-signed, a connection per answer, vs openssl", closing);
    ratio("CEILING vs openssl (the most any responder can reach here)", ceiling);
    println!("{:<62} {:>24.2}", "lienthong pre-signed / CEILING", cached / ceiling);
    Ok(())
}

/// Where a figure is measured: the responder's address, and its process group (all of the
/// responder's processes, the peer's `-multi` children included).
#[derive(Clone, Copy)]
struct At<'a> {
    address: &'a str,
    group: Option<u32>,
}

/// One measured line: a checked answer, then the load, checked against it; beside the rate, the
/// CPU time per answer of the responder (all its processes) and of wrk (user + system, from
/// `/proc`).
///
/// No answer is asked for after the load: wrk ends by closing connections the peer has accepted
/// but not yet read a request from, which can wedge its last process (see [`WRK_SCRIPT`]).
fn figure(client: &Client, at: At<'_>, request: &Request, label: &str) -> Result<f64> {
    let probe = probe(at.address, request).with_context(|| format!("{label}: the answer before the load"))?;
    let server_before = at.group.and_then(group_ticks);
    let children_before = cpu_ticks("self", Ticks::WaitedChildren);
    let load = client.load(at.address, request)?;
    load.check(&probe).with_context(|| label.to_owned())?;
    let server = at.group.and_then(group_ticks).zip(server_before);
    let wrk = cpu_ticks("self", Ticks::WaitedChildren).zip(children_before).filter(|_| client.is_wrk());
    let per_answer = |ticks: Option<(u64, u64)>| match ticks {
        Some((after, before)) => format!("{:.1}", micros(after - before) / load.answers as f64),
        None => "-".to_owned(),
    };
    let connection = if probe.keeps_connection { "kept" } else { "closed" };
    let (server, wrk) = (per_answer(server), per_answer(wrk));
    println!("{label:<62} {connection:>11} {:>12.0} {server:>15} {wrk:>15}", load.per_second);
    if load.socket_errors > 0 {
        println!("{:<62} {:>24}", "  (socket errors reported by the load generator)", load.socket_errors);
    }
    Ok(load.per_second)
}

/// Which CPU times of `/proc/PID/stat` to read.
enum Ticks {
    /// The process's own (all its threads).
    Own,
    /// Its children that have ended and been waited for (wrk, for the bench process).
    WaitedChildren,
}

/// User + system CPU time in clock ticks (Linux); `None` where `/proc` is not there.
fn cpu_ticks(pid: &str, which: Ticks) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name: state is 3rd overall, utime 14th, stime 15th, cutime 16th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let first = match which {
        Ticks::Own => 11,
        Ticks::WaitedChildren => 13,
    };
    Some(fields.get(first)?.parse::<u64>().ok()? + fields.get(first + 1)?.parse::<u64>().ok()?)
}

/// User + system CPU time in clock ticks of the live processes of a process group (Linux).
fn group_ticks(group: u32) -> Option<u64> {
    let group = group.to_string();
    let in_group = |pid: &str| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The process group is the 5th field overall, the 3rd after the command name.
        (stat.rsplit_once(')')?.1.split_whitespace().nth(2)? == group).then_some(())
    };
    let pids = std::fs::read_dir("/proc").ok()?.filter_map(|entry| entry.ok()?.file_name().into_string().ok());
    Some(pids.filter(|pid| in_group(pid).is_some()).filter_map(|pid| cpu_ticks(&pid, Ticks::Own)).sum())
}

/// Clock ticks to microseconds: Linux reports them at USER_HZ, 100 per second.
fn micros(ticks: u64) -> f64 {
    ticks as f64 * 10_000.0
}

/// `lienthong ca init` and one certificate, by this very binary, as an operator would.
fn fresh_ca(dir: &Path) -> Result<()> {
    lienthong(dir, &["ca", "init", "--dir", "ca"])?;
    lienthong(
        dir,
        &["ca", "issue", "--dir", "ca", "--profile", "tsa", "--subject", "CN=bench TSA,O=lienthong bench"]
            .into_iter()
            .chain(["--key-out", "ee.key", "--out", "ee.pem"])
            .collect::<Vec<_>>(),
    )?;
    let chain = std::fs::read_to_string(dir.join("ca/chain.pem"))?;
    const END: &str = "-----END CERTIFICATE-----\n";
    let issuing_end = chain.find(END).context("chain.pem holds no certificate")? + END.len();
    std::fs::write(dir.join("issuing.pem"), &chain[..issuing_end])?;
    Ok(())
}

fn lienthong(dir: &Path, args: &[&str]) -> Result<()> {
    let output = Command::new(std::env::current_exe()?)
        .args(args)
        .env("LIENTHONG_CA_PASSPHRASE", PASSPHRASE)
        .current_dir(dir)
        .output()?;
    if !output.status.success() {
        bail!("lienthong {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// A DER OCSP request for `ee.pem`, as `openssl ocsp -reqout` writes it, kept in `dir/file`.
#[derive(Clone)]
struct Request {
    file: &'static str,
    der: Vec<u8>,
    /// Sent with `Connection: close`, so that the server closes each connection after one answer.
    close: bool,
}

impl Request {
    fn write(dir: &Path, file: &'static str, extra: &[&str]) -> Result<Self> {
        let mut args = vec!["ocsp", "-issuer", "issuing.pem", "-cert", "ee.pem", "-reqout", file];
        args.extend(extra);
        openssl_in(dir, &args)?;
        Ok(Self { file, der: std::fs::read(dir.join(file))?, close: false })
    }
}

/// A responder started from this very binary, in its own process; killed when dropped.
struct Ours {
    child: Child,
    address: String,
}

impl Ours {
    fn at(&self) -> At<'_> {
        At { address: &self.address, group: Some(self.child.id()) }
    }

    /// The real `lienthong ca serve` on the fresh CA, with `workers` tokio workers.
    fn start(dir: &Path, workers: usize) -> Result<Self> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["ca", "serve", "--dir", "ca", "--listen", "127.0.0.1:0"])
            .env("LIENTHONG_CA_PASSPHRASE", PASSPHRASE)
            .env("TOKIO_WORKER_THREADS", workers.to_string());
        Self::spawn(command, dir, "lienthong ca: listening on http://")
    }

    /// The ceiling (`lienthong bench ocsp-ceiling`, one thread), answering every request with
    /// `answer`, the DER OCSP response `ca serve` gave to the same request.
    fn ceiling(dir: &Path, answer: &[u8]) -> Result<Self> {
        std::fs::write(dir.join("presigned.der"), answer)?;
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["bench", "ocsp-ceiling", "--listen", "127.0.0.1:0", "--response", "presigned.der"]);
        Self::spawn(command, dir, "lienthong bench ocsp-ceiling: listening on http://")
    }

    /// Starts `command` in `dir` and reads the address from its first line, after `prefix`.
    fn spawn(mut command: Command, dir: &Path, prefix: &str) -> Result<Self> {
        let mut child = command.current_dir(dir).process_group(0).stdout(Stdio::piped()).spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let Some(address) = line.trim().strip_prefix(prefix) else {
            child.kill().ok();
            child.wait().ok();
            bail!("{command:?} did not start: {line:?}");
        };
        Ok(Self { address: address.to_owned(), child })
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The peer: OpenSSL's own responder over an `openssl ca` index naming the same certificate,
/// signing with a responder key of its own (the same ECDSA P-256 cost as ours). It runs in a
/// process group of its own, killed whole when dropped: its `-multi` children outlive a parent
/// killed alone.
struct Peer {
    child: Child,
    address: String,
}

impl Peer {
    fn start(dir: &Path, processes: usize, request: &Request) -> Result<Self> {
        if !dir.join("rsigner.pem").exists() {
            peer_files(dir)?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port().to_string();
        let multi = processes.to_string();
        let child = Command::new("openssl")
            .args(["ocsp", "-index", "index.txt", "-port", &port, "-rsigner", "rsigner.pem", "-rkey", "rsigner.key"])
            .args(["-CA", "issuing.pem", "-multi", &multi, "-ignore_err"])
            .current_dir(dir)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let peer = Self { child, address: format!("127.0.0.1:{port}") };
        // Waiting for the port by connecting would leave a connection closed before its request
        // line, which wedges one of the responder's processes (OpenSSL 3.0); ask a real question.
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            if probe(&peer.address, request).is_ok() {
                return Ok(peer);
            }
        }
        bail!("openssl ocsp did not answer on {}", peer.address)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status().ok();
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The peer's signer and an index naming `ee.pem` as valid.
fn peer_files(dir: &Path) -> Result<()> {
    openssl_in(
        dir,
        &["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
            .into_iter()
            .chain(["-subj", "/CN=openssl OCSP signer", "-keyout", "rsigner.key", "-out", "rsigner.pem", "-days", "30"])
            .collect::<Vec<_>>(),
    )?;
    let serial =
        Command::new("openssl").args(["x509", "-in", "ee.pem", "-noout", "-serial"]).current_dir(dir).output()?;
    let serial = String::from_utf8_lossy(&serial.stdout).trim().trim_start_matches("serial=").to_owned();
    std::fs::write(dir.join("index.txt"), format!("V\t300101000000Z\t\t{serial}\tunknown\t/CN=bench TSA\n"))?;
    Ok(())
}

/// What one checked answer showed.
struct Probe {
    /// The OCSP response (DER).
    answer: Vec<u8>,
    /// Whether the server left the connection open for another request.
    keeps_connection: bool,
}

/// One POST on a fresh connection; fails unless it is a 200 carrying a successful OCSP response.
fn probe(address: &str, request: &Request) -> Result<Probe> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(&post(address, request))?;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let answer = loop {
        if let Some(answer) = Answer::parse(&buffer) {
            break answer;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("{address} closed the connection before a complete answer");
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    if !answer.successful {
        bail!("{address} did not answer with a successful OCSP response");
    }
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let keeps_connection = !answer.closes && !matches!(stream.read(&mut chunk), Ok(0));
    let body = buffer[answer.total_bytes - answer.body_bytes..answer.total_bytes].to_vec();
    Ok(Probe { answer: body, keeps_connection })
}

/// An HTTP/1.1 POST of a DER OCSP request.
fn post(address: &str, request: &Request) -> Vec<u8> {
    let close = if request.close { "Connection: close\r\n" } else { "" };
    let head = format!(
        "POST /ocsp HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n{close}\r\n",
        request.der.len()
    );
    [head.as_bytes(), &request.der].concat()
}

/// A complete HTTP answer at the start of a buffer.
struct Answer {
    /// 200, carrying an OCSPResponse whose status is `successful`.
    successful: bool,
    /// Whether the server closes the connection after it.
    closes: bool,
    body_bytes: usize,
    /// Head and body.
    total_bytes: usize,
}

impl Answer {
    /// `None` until the head and the whole body (by Content-Length) have arrived.
    fn parse(buffer: &[u8]) -> Option<Self> {
        let end = buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
        let header = |name: &str| head.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
        let body_bytes: usize = header("content-length:")?.parse().ok()?;
        let body = buffer.get(end..end + body_bytes)?;
        let keep_alive = header("connection:").map(|v| v == "keep-alive");
        let closes = keep_alive == Some(false) || (head.starts_with("http/1.0") && keep_alive.is_none());
        let successful = head.split(' ').nth(1) == Some("200") && successful_ocsp(body);
        Some(Self { successful, closes, body_bytes, total_bytes: end + body_bytes })
    }
}

/// Whether `der` is an OCSPResponse whose status is `successful`: SEQUENCE, then ENUMERATED 0.
fn successful_ocsp(der: &[u8]) -> bool {
    let Some(&length) = der.get(1) else { return false };
    let status_at = if length < 0x80 { 2 } else { 2 + usize::from(length & 0x7F) };
    der.first() == Some(&0x30) && der.get(status_at..status_at + 3) == Some(&[0x0A, 0x01, 0x00][..])
}

/// What a load generator counted during one figure.
struct Load {
    per_second: f64,
    answers: u64,
    /// Non-2xx answers, and (in-process client) 200s not carrying a successful OCSP response.
    failed: u64,
    socket_errors: u64,
    /// Bytes read per answer, head and body, when the client does not look inside the answers.
    bytes_per_answer: Option<f64>,
}

impl Load {
    /// Refuses figures that could be counting errors as throughput: failed answers, or answers
    /// shorter on average than the successful OCSP response the probe saw.
    fn check(&self, probe: &Probe) -> Result<()> {
        if self.answers == 0 || self.failed > 0 {
            bail!("{} answers, {} failed: not a figure", self.answers, self.failed);
        }
        if self.bytes_per_answer.is_some_and(|bytes| bytes < probe.answer.len() as f64) {
            bail!("answers average fewer bytes than a successful OCSP response: some were not");
        }
        Ok(())
    }
}

/// The load generator: `wrk` if installed, else an in-process client.
enum Client {
    Wrk { dir: std::path::PathBuf },
    InProcess,
}

/// wrk's default `resolve` opens and closes a probe connection before the run; OpenSSL 3.0's
/// responder wedges one of its processes on a connection closed before its request line, so the
/// script skips the probe. The body is read from the file named in the environment, and
/// `Connection: close` is sent when the environment asks for it.
const WRK_SCRIPT: &str = r#"function wrk.resolve(host, service)
  wrk.addrs = wrk.lookup(host, service)
end
local file = assert(io.open(os.getenv("LIENTHONG_BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/ocsp-request"
if os.getenv("LIENTHONG_BENCH_CLOSE") == "1" then
  wrk.headers["Connection"] = "close"
end
"#;

impl Client {
    fn is_wrk(&self) -> bool {
        matches!(self, Self::Wrk { .. })
    }

    fn find(dir: &Path) -> Result<Self> {
        if Command::new("wrk").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            println!(
                "\nwrk not found (Debian: apt-get install wrk): the OCSP figures use an in-process client, \
                 which competes with the servers for the cores; they are lower than wrk's and not the recorded ones."
            );
            return Ok(Self::InProcess);
        }
        std::fs::write(dir.join("post.lua"), WRK_SCRIPT)?;
        Ok(Self::Wrk { dir: dir.to_owned() })
    }

    fn load(&self, address: &str, request: &Request) -> Result<Load> {
        match self {
            Self::Wrk { dir } => wrk(dir, address, request),
            Self::InProcess => in_process(address, request),
        }
    }
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Wrk { .. } => write!(f, "`{}` (its own process), keep-alive", wrk_args("URL").join(" ")),
            Self::InProcess => write!(f, "in-process client (wrk missing), {CONNECTIONS} connections, keep-alive"),
        }
    }
}

fn wrk_args(url: &str) -> Vec<String> {
    let (connections, seconds) = (format!("-c{CONNECTIONS}"), format!("-d{}s", MEASURE.as_secs()));
    ["wrk", "-t1", &connections, &seconds, "-s", "post.lua", url].map(str::to_owned).to_vec()
}

fn wrk(dir: &Path, address: &str, request: &Request) -> Result<Load> {
    let args = wrk_args(&format!("http://{address}/ocsp"));
    let output = Command::new(&args[0])
        .args(&args[1..])
        .env("LIENTHONG_BENCH_BODY", request.file)
        .env("LIENTHONG_BENCH_CLOSE", if request.close { "1" } else { "0" })
        .current_dir(dir)
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    }
    parse_wrk(&text).with_context(|| format!("unexpected wrk output:\n{text}"))
}

/// Reads wrk's summary: "N requests in Ts, X.YYMB read", the optional "Socket errors: connect a,
/// read b, write c, timeout d" and "Non-2xx or 3xx responses: n", and "Requests/sec: r".
fn parse_wrk(text: &str) -> Option<Load> {
    let line = |prefix: &str| text.lines().map(str::trim).find_map(|l| l.strip_prefix(prefix)).map(str::trim);
    let (answers, rest) = text.lines().find_map(|l| l.trim().split_once(" requests in "))?;
    let answers: u64 = answers.parse().ok()?;
    let read = rest.split(", ").nth(1)?.strip_suffix(" read")?;
    let socket_errors = match line("Socket errors:") {
        Some(errors) => errors.split(", ").map(|e| e.rsplit(' ').next()?.parse::<u64>().ok()).sum::<Option<u64>>()?,
        None => 0,
    };
    Some(Load {
        per_second: line("Requests/sec:")?.parse().ok()?,
        answers,
        failed: line("Non-2xx or 3xx responses:").map_or(Some(0), |n| n.parse().ok())?,
        socket_errors,
        bytes_per_answer: Some(binary_size(read)? / answers.max(1) as f64),
    })
}

/// wrk's sizes: "307.20MB" in powers of 1024.
fn binary_size(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "B" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * scale)
}

/// The stand-in for wrk: `CONNECTIONS` keep-alive connections on one thread, each reopened when
/// the server closes it; every answer is looked into.
fn in_process(address: &str, request: &Request) -> Result<Load> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let deadline = Instant::now() + MEASURE;
    let start = Instant::now();
    let counts = runtime.block_on(async {
        let tasks: Vec<_> = (0..CONNECTIONS)
            .map(|_| tokio::spawn(connection_loop(address.to_owned(), post(address, request), deadline)))
            .collect();
        let mut total = (0, 0);
        for task in tasks {
            let (answered, failed) = task.await.unwrap_or((0, 1));
            total = (total.0 + answered, total.1 + failed);
        }
        total
    });
    let per_second = counts.0 as f64 / start.elapsed().as_secs_f64();
    Ok(Load { per_second, answers: counts.0, failed: counts.1, socket_errors: 0, bytes_per_answer: None })
}

/// Answers (successful, failed) on one client's connections until `deadline`.
async fn connection_loop(address: String, request: Vec<u8>, deadline: Instant) -> (u64, u64) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (mut answered, mut failed) = (0, 0);
    let mut buffer = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    while Instant::now() < deadline {
        let Ok(mut stream) = tokio::net::TcpStream::connect(&address).await else { continue };
        'connection: while Instant::now() < deadline && stream.write_all(&request).await.is_ok() {
            buffer.clear();
            let answer = loop {
                if let Some(answer) = Answer::parse(&buffer) {
                    break answer;
                }
                match stream.read(&mut chunk).await {
                    Ok(n) if n > 0 => buffer.extend_from_slice(&chunk[..n]),
                    _ => break 'connection,
                }
            };
            if answer.successful {
                answered += 1
            } else {
                failed += 1
            }
            if answer.closes || buffer.len() != answer.total_bytes {
                break;
            }
        }
    }
    (answered, failed)
}

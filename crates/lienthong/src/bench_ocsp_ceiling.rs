//! `lienthong bench ocsp-ceiling` (hidden): the fastest OCSP responder that can exist on this
//! machine, for the OCSP benchmark's ceiling row. It answers every HTTP/1.1 request on a kept
//! connection with one fixed, pre-built response whose body is the pre-signed OCSP answer it was
//! given — no routing, no lookup, no signing, no clock — so what it costs is the kernel's TCP and
//! the least parsing HTTP needs: the end of the head and the Content-Length body.
//!
//! One thread (a tokio current-thread runtime, one task per connection, one reused buffer each),
//! as `ca serve` is given one worker in the benchmark.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Largest request kept in a connection's buffer; a longer one closes the connection.
const MAX_REQUEST_BYTES: usize = 16 * 1024;

pub(crate) fn run(listen: &str, response: &Path) -> Result<ExitCode> {
    let body = std::fs::read(response).with_context(|| format!("cannot read {}", response.display()))?;
    let answer: Arc<[u8]> = http_answer(&body).into();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        println!("lienthong bench ocsp-ceiling: listening on http://{}", listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(connection(stream, answer.clone()));
        }
    })
}

/// The whole HTTP/1.1 answer: status line, the two headers a client needs, the OCSP body.
fn http_answer(body: &[u8]) -> Vec<u8> {
    let head =
        format!("HTTP/1.1 200 OK\r\ncontent-type: application/ocsp-response\r\ncontent-length: {}\r\n\r\n", body.len());
    [head.as_bytes(), body].concat()
}

/// Answers each complete request in the buffer with `answer` (several at once if pipelined),
/// until the client closes the connection or sends a request larger than the buffer.
async fn connection(mut stream: TcpStream, answer: Arc<[u8]>) {
    let mut input = vec![0u8; MAX_REQUEST_BYTES];
    let mut filled = 0;
    let mut output = Vec::with_capacity(answer.len());
    loop {
        let mut consumed = 0;
        while let Some(length) = request_length(&input[consumed..filled]) {
            consumed += length;
            output.extend_from_slice(&answer);
        }
        input.copy_within(consumed..filled, 0);
        filled -= consumed;
        if !output.is_empty() {
            if stream.write_all(&output).await.is_err() {
                return;
            }
            output.clear();
        }
        match stream.read(&mut input[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
    }
}

/// The length of the complete request at the start of `buffer` (head and Content-Length body),
/// or `None` until it has all arrived.
fn request_length(buffer: &[u8]) -> Option<usize> {
    let head_end = buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let body = buffer[..head_end].split(|&b| b == b'\n').find_map(content_length).unwrap_or(0);
    let total = head_end + body;
    (buffer.len() >= total).then_some(total)
}

/// The value of a `Content-Length` header line, if `line` is one.
fn content_length(line: &[u8]) -> Option<usize> {
    const NAME: &[u8] = b"content-length:";
    let value = line.get(..NAME.len()).filter(|name| name.eq_ignore_ascii_case(NAME)).map(|_| &line[NAME.len()..])?;
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

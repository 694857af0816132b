//! `lienthong demo`: what exists today, end to end — build a document package with an attachment,
//! read it back, validate it, and answer it with status packages from each recipient.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use bytes::Bytes;
use clap::Args;
use edxml::{Limits, Package};

use crate::edxml_cmd::{answer, build_package, write_file};
use crate::header::EXAMPLE;
use crate::inspect::Report;

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the demo writes its files.
    #[arg(long, default_value = "./lienthong-demo")]
    data_dir: PathBuf,
    /// Exit after the example exchange instead of serving until Ctrl-C (for scripts and tests).
    #[arg(long)]
    once: bool,
}

pub(crate) fn run(args: DemoArgs) -> Result<ExitCode> {
    fs::create_dir_all(&args.data_dir).with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let limits = Limits::default();
    println!("== lienthong demo: gói tin edXML / edXML packages (QCVN 102:2016) ==\n");
    let letter = "Kính gửi: UBND Tỉnh Nghệ An; Bộ Tài chính.\nVăn phòng Chính phủ đề nghị hoàn thành kết nối trục liên thông văn bản quốc gia.\n";
    let doc = build_package(EXAMPLE, &[("4521-VPCP-KSTT.txt".into(), letter.as_bytes().to_vec())])?;
    let doc_path = args.data_dir.join("van-ban-4521-VPCP-KSTT.edxml");
    write_file(&doc_path, &edxml::write(&Package::Document(doc.clone())))?;
    println!("1. Đã tạo gói tin văn bản / built a document package: {}\n", doc_path.display());
    let bytes = Bytes::from(fs::read(&doc_path)?);
    let parsed = edxml::parse(&bytes, &limits)?;
    print!("{}", Report::new(&doc_path, &parsed, &limits).render_text());
    println!("\n2. Các nơi nhận trả trạng thái / each recipient answers with statuses:");
    for to in &doc.header.to {
        let organ = to.organ_id.as_ref().map(|id| id.as_str().to_owned()).unwrap_or_default();
        for code in ["01", "03"] {
            let status = answer(&doc, code, &organ, None)?;
            let path = args.data_dir.join(format!("trang-thai-{organ}-{code}.edxml"));
            write_file(&path, &edxml::write(&Package::Status(status)))?;
            let reread = edxml::parse(&Bytes::from(fs::read(&path)?), &limits)?;
            let findings = edxml::validate(&reread.package, &limits.zip);
            let verdict = if findings.is_empty() { "OK" } else { "INVALID" };
            println!("   {organ} → {code}: {} ({verdict})", path.display());
        }
    }
    println!("\n3. Gói tin hỏng bị từ chối, nêu rõ lỗi / damaged packages are refused with a clear error:");
    let text = String::from_utf8_lossy(&bytes);
    let damaged = [
        ("bị cắt cụt / truncated", bytes.slice(..bytes.len() / 2)),
        ("sai không gian tên / wrong namespace", Bytes::from(text.replacen("QCVN_102_2016", "QCVN_999", 1))),
        ("ngày không có thật / impossible date", Bytes::from(text.replacen("2026/12/15", "2026/02/30", 1))),
    ];
    for (what, broken) in damaged {
        match edxml::parse(&broken, &limits) {
            Err(e) => println!("   {what}: {} [{}] {e}", e.kind.code(), e.kind.title_vi()),
            Ok(_) => println!("   {what}: accepted (unexpected)"),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(crate::demo_network::run(&args.data_dir, &bytes, args.once))?;
    println!("\nThử tiếp / try next:");
    println!("   cargo run --release -- edxml inspect {}", doc_path.display());
    println!("   cargo run --release -- edxml validate {}/*.edxml", args.data_dir.display());
    println!("   cargo run --release -- edxml build --example > header.toml");
    Ok(ExitCode::SUCCESS)
}

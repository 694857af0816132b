//! `lienthong`: one binary, a subcommand per role and tool.

/// glibc's allocator was an eighth of the exchange's CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod bench_ca;
mod bench_exchange;
mod bench_jetstream;
mod bench_ocsp;
mod bench_ocsp_ceiling;
mod ca_admin;
mod ca_cmd;
mod ca_device;
mod ca_keys;
mod demo;
mod demo_network;
mod edxml_cmd;
mod gateway_cmd;
mod gateway_log;
mod header;
mod hub_cmd;
mod inspect;
mod node;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "lienthong",
    version,
    about = "Liên thông văn bản quốc gia — national document exchange, CA and e-Cabinet"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The certification authority: init, issue, revoke, CRLs.
    Ca(ca_cmd::CaArgs),
    /// edXML packages (QCVN 102:2016): validate, inspect, build, answer with a status.
    Edxml(edxml_cmd::EdxmlArgs),
    /// The national hub: init, serve, the registry of agencies, hosted SDK agencies.
    Hub(hub_cmd::HubArgs),
    /// An agency's gateway: init, serve, client systems, its message log.
    Gateway(gateway_cmd::GatewayArgs),
    /// Show what lienthong does today, end to end, on this machine.
    Demo(demo::DemoArgs),
    /// Benchmarks that print figures beside their peers, measured in the same run.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    exit_quietly_on_closed_stdout();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ca(args) => ca_cmd::run(args),
        Command::Edxml(args) => edxml_cmd::run(args),
        Command::Hub(args) => hub_cmd::run(args),
        Command::Gateway(args) => gateway_cmd::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("lỗi / error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// `lienthong … | head` closes our standard output early; end as a killed pipe writer would,
/// instead of printing a panic.
fn exit_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

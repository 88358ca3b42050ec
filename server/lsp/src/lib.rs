//! The language server: the only crate that knows LSP and JSON-RPC. Handlers convert from the
//! protocol, call the completion service (`wisp_complete`) and the other plain crates, and
//! convert back (`to_proto`). `wisp serve` runs [`serve`] over stdio.
//!
//! stdout belongs to the LSP protocol; every log line goes to stderr.

#![deny(clippy::print_stdout)]

mod feedback;
mod handlers;
mod prometheus;
mod scheduling;
mod server;
mod state;
mod to_proto;
mod transport;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

/// How long `exit` waits for the model to stop: one prompt chunk or generated token takes
/// well under a second even on a slow CPU.
const EXIT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves LSP over stdin and stdout until the client says `exit`; the exit code is 0 when
/// `shutdown` came first, 1 otherwise (as the LSP specification asks).
pub fn serve() -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let shutdown_requested = runtime.block_on(async {
        let (service, socket) = server::service();
        let stdin = tokio::io::stdin();
        let stdout = tokio::io::stdout();
        let server = service.inner().clone();
        let served = transport::serve(stdin, stdout, service, socket).await;
        // Let llama.cpp finish its batch before the process (and llama.cpp's globals) go away.
        if !tokio::task::block_in_place(|| server.quiesce(EXIT_GRACE)) {
            tracing::warn!("the model was still busy {EXIT_GRACE:?} after exit; exiting anyway");
        }
        served.shutdown_received
    });
    // Do not wait for the runtime's stdin reader (blocked in a read): the client said exit.
    runtime.shutdown_background();
    let _ = std::io::stdout().flush();
    // LSP: "The server should exit with success code 0 if the shutdown request has been received
    // before; otherwise with error code 1."
    Ok(if shutdown_requested { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

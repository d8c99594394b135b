//! vigil-lsp: the Vigil language server, `vigil lsp`.
//!
//! Speaks the Language Server Protocol over any byte streams (stdin and stdout in `vigil
//! lsp`): diagnostics on open, change and save from the compiler's whole pipeline (the one
//! `vigil check` runs, verifier included), hover, completion, go to definition, find
//! references, document formatting (`vigil fmt`'s formatter) and quick fixes for the
//! compiler's did-you-mean suggestions.
//!
//! Modules: [`transport`] reads and writes framed messages and survives bad ones; [`server`]
//! is the message handler (no I/O); [`workspace`] keeps the files, the name index and the
//! incremental checks; [`analysis`] reads what a file declares and uses; [`position`] and
//! [`uri`] convert between the protocol's positions and URIs and bytes and paths; [`docs`] and
//! [`complete`] hold hover's and completion's words; [`fuzz`] is the fuzz target's session.
//! Everything is synchronous: one thread reads a message, handles it and writes the replies.

#![forbid(unsafe_code)]

pub mod analysis;
pub mod complete;
pub mod docs;
pub mod fuzz;
pub mod position;
pub mod server;
pub mod transport;
pub mod uri;
pub mod workspace;

use std::io::{BufRead, Write};

pub use server::{Flow, Server};
pub use workspace::Config;

/// Serves one session: reads messages from `input` until `exit` or the end of the stream,
/// writing replies and notifications to `output`. Returns the exit status: 0 after
/// `shutdown` then `exit`, 1 when the session ended otherwise (`exit` without `shutdown`, the
/// client went away) or the output could not be written.
pub fn serve(config: Config, input: &mut impl BufRead, output: &mut impl Write) -> i32 {
    let mut server = Server::new(config);
    let mut out = Vec::new();
    loop {
        let frame = match transport::read(input) {
            Ok(f) => f,
            Err(_) => return 1,
        };
        let flow = match frame {
            transport::Frame::Eof => return 1,
            transport::Frame::Malformed(answer) => {
                if transport::write_value(output, &answer).is_err() {
                    return 1;
                }
                Flow::Continue
            }
            transport::Frame::Message(m) => server.handle(m, &mut out),
        };
        for m in out.drain(..) {
            if transport::write(output, &m).is_err() {
                return 1;
            }
        }
        if let Flow::Exit(code) = flow {
            return code;
        }
    }
}

/// Serves one session over stdin and stdout.
pub fn serve_stdio(config: Config) -> i32 {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    serve(config, &mut stdin.lock(), &mut stdout.lock())
}

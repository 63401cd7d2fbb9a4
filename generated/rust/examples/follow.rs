//! Print the events a tka server sends, one JSON line each, until Ctrl-C:
//!
//!     TKA_TOKEN=... cargo run --example follow -- http://127.0.0.1:8000
//!
//! A hello line on every (re)connect; the stream reconnects and resumes by itself, so a server
//! restart loses no event. (The live-events conformance scenario of every SDK runs this.)

use std::time::Duration;

use serde_json::json;
use tka_sdk::events::{EventStream, EventStreamOptions, ServerMessage};

#[tokio::main]
async fn main() {
    let url = std::env::args().nth(1).unwrap_or_else(|| "http://127.0.0.1:8000".into());
    let options = EventStreamOptions {
        token: std::env::var("TKA_TOKEN").ok().filter(|t| !t.is_empty()),
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_secs(2),
        ..Default::default()
    };
    let mut stream = EventStream::new(url, options);
    loop {
        // Reconnects (with backoff) and resumes after the last event when the connection is lost.
        match stream.next_message().await {
            Ok(ServerMessage::ConnectionEstablished(hello)) => {
                println!("{}", json!({"type": "connection_established", "last_event_id": hello.last_event_id}));
            }
            Ok(ServerMessage::Event(e)) => {
                println!("{}", json!({"type": "event", "event_id": e.event_id, "event_type": e.event_type,
                                      "sequence_id": e.sequence_id}));
            }
            Ok(ServerMessage::StoreStatus(s)) => eprintln!("store {:?}", s.status),
            Ok(ServerMessage::ResyncRequired(r)) => eprintln!("resync required: {}", r.message),
            Ok(_) => {}
            Err(e) => {
                eprintln!("the stream ended: {e}");
                std::process::exit(1);
            }
        }
    }
}

//! Smoke test against a live server: `TKA_BASE_URL=http://127.0.0.1:8000 cargo test`.
//! Without TKA_BASE_URL the live test returns early (and says so); the retry test always runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tka_sdk::apis::configuration::Configuration;
use tka_sdk::apis::{beats_api, commands_api, pictures_api, sequences_api, status_api, Error, RetryPolicy};
use tka_sdk::models::{
    AddBeatRequest, BeatInput, CreateSequenceRequest, Location, MotionInput, MotionType, PositionName,
    RotationDirection, ServiceStatus, UndoRedoRequest, UpdateSequenceRequest,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(base: &str) -> Configuration {
    Configuration { base_path: base.trim_end_matches('/').to_owned(), ..Configuration::default() }
}

fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn the_sdk_drives_a_live_server_end_to_end() {
    let Ok(base) = std::env::var("TKA_BASE_URL") else {
        eprintln!("skipped: set TKA_BASE_URL to a running tka server");
        return;
    };
    let c = config(&base);

    assert_eq!(status_api::get_status(&c, None).await.unwrap().status, ServiceStatus::Running);

    // Create with an Idempotency-Key, twice: the second answer replays the first.
    let idem = key();
    let mut request = CreateSequenceRequest::new("Rust smoke".into());
    request.start_position = Some(PositionName::Alpha1);
    let (first, _) = sequences_api::create_sequence_with_headers(&c, request.clone(), None, Some(&idem)).await.unwrap();
    let (second, headers) = sequences_api::create_sequence_with_headers(&c, request, None, Some(&idem)).await.unwrap();
    let id = first.data.unwrap().id;
    assert_eq!(second.data.unwrap().id, id);
    assert_eq!(headers.get("Idempotent-Replayed").unwrap(), "true");

    // Read it with its ETag; a stale If-Match is a typed 412 with the problem body parsed.
    let (read, headers) = sequences_api::get_sequence_with_headers(&c, &id, None).await.unwrap();
    let etag = headers.get("ETag").unwrap().to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", read.data.version));
    let rename = |name: &str| UpdateSequenceRequest { name: Some(name.into()), ..UpdateSequenceRequest::new() };
    sequences_api::update_sequence(&c, &id, rename("Rust smoke 2"), None, Some(&etag)).await.unwrap();
    let stale = sequences_api::update_sequence(&c, &id, rename("lost update"), None, Some(&etag)).await.unwrap_err();
    assert_eq!(stale.status().map(|s| s.as_u16()), Some(412));
    match &stale {
        Error::ResponseError(r) => match &r.entity {
            Some(sequences_api::UpdateSequenceError::Status412(problem)) => {
                assert_eq!(problem.error_code, "precondition_failed");
                assert_eq!(problem.status, 412);
                assert_eq!(problem.instance, format!("/api/sequences/{id}"));
            }
            other => panic!("expected the Status412 variant, got {other:?}"),
        },
        other => panic!("expected a response error, got {other:?}"),
    }

    // A beat by letter, one by explicit motions, and a blank one.
    let by_letter = BeatInput { letter: Some("A".into()), ..BeatInput::new() };
    let seq = beats_api::add_beat(&c, &id, AddBeatRequest::new(by_letter), None, None, None).await.unwrap().data.unwrap();
    assert_eq!(seq.end_position, Some(PositionName::Alpha3));
    let by_motions = BeatInput {
        blue_motion: Some(Box::new(MotionInput::new(MotionType::Pro, Location::W, Location::N))),
        red_motion: Some(Box::new(MotionInput::new(MotionType::Pro, Location::E, Location::S))),
        ..BeatInput::new()
    };
    let seq = beats_api::add_beat(&c, &id, AddBeatRequest::new(by_motions), None, Some(&key()), None).await.unwrap().data.unwrap();
    assert_eq!(seq.beats.iter().map(|b| b.letter.clone()).collect::<Vec<_>>(), vec![Some("A".into()), Some("A".into())]);
    assert_eq!(seq.beats[1].blue_motion.as_ref().unwrap().prop_rot_dir, RotationDirection::Cw);
    let blank = BeatInput { is_blank: Some(true), ..BeatInput::new() };
    let seq = beats_api::add_beat(&c, &id, AddBeatRequest::new(blank), None, None, None).await.unwrap().data.unwrap();
    assert_eq!(seq.beats[2].letter, None);                 // null round-trips as None
    assert!(seq.beats[2].blue_motion.is_none() && seq.beats[2].start_position.is_none());

    // Undo the blank beat, redo it.
    let scope = || Some(UndoRedoRequest { sequence_id: Some(id.clone()) });
    let undone = commands_api::undo(&c, None, None, scope()).await.unwrap();
    assert_eq!(undone.data.unwrap().beats.len(), 2);
    assert!(undone.can_redo);
    let redone = commands_api::redo(&c, None, None, scope()).await.unwrap();
    assert_eq!(redone.data.unwrap().beats.len(), 3);

    // Pictures come back as the reqwest::Response (headers and all); a 304 is not an error: it is
    // an Ok response with status 304 and an empty body.
    let sheet = pictures_api::get_sequence_image_svg(&c, &id, None, None, None).await.unwrap();
    assert_eq!(sheet.status().as_u16(), 200);
    let picture_etag = sheet.headers().get("ETag").unwrap().to_str().unwrap().to_owned();
    assert!(picture_etag.ends_with("-p1\""));
    let svg = sheet.text().await.unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("class=\"beat\""));
    let not_modified = pictures_api::get_sequence_image_svg(&c, &id, None, None, Some(&picture_etag)).await.unwrap();
    assert_eq!(not_modified.status().as_u16(), 304);
    assert!(not_modified.bytes().await.unwrap().is_empty());
    let png = pictures_api::get_sequence_image_png(&c, &id, None, Some(64), None).await.unwrap().bytes().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let beat = pictures_api::get_beat_image_svg(&c, &id, 1, None, None, None).await.unwrap().text().await.unwrap();
    assert!(beat.starts_with("<svg"));

    // Sending null: clear the start position of a sequence without beats.
    let mut bare = CreateSequenceRequest::new("bare".into());
    bare.start_position = Some(PositionName::Beta5);
    let bare_id = sequences_api::create_sequence(&c, bare, None, None).await.unwrap().data.unwrap().id;
    let clear = UpdateSequenceRequest { start_position: Some(None), ..UpdateSequenceRequest::new() };
    let cleared = sequences_api::update_sequence(&c, &bare_id, clear, None, None).await.unwrap().data.unwrap();
    assert_eq!(cleared.start_position, None);
    assert!(cleared.start_position_beat.is_none());

    // A 404 with its problem body, in the 404 variant.
    let missing = sequences_api::get_sequence(&c, &key(), None).await.unwrap_err();
    match &missing {
        Error::ResponseError(r) => match &r.entity {
            Some(sequences_api::GetSequenceError::Status404(p)) => assert_eq!(p.error_code, "not_found"),
            other => panic!("expected the Status404 variant, got {other:?}"),
        },
        other => panic!("expected a response error, got {other:?}"),
    }
    assert_eq!(missing.problem().unwrap().status, 404);

    // Pagination.
    let page1 = sequences_api::list_sequences(&c, None, Some(1), Some(1)).await.unwrap();
    assert_eq!(page1.data.len(), 1);
    assert!(page1.total_items >= 2 && page1.has_next);
    let page2 = sequences_api::list_sequences(&c, None, Some(2), Some(1)).await.unwrap();
    assert!(page2.has_previous);
    assert_ne!(page2.data[0].id, page1.data[0].id);

    // Delete; then it is gone.
    let deleted = sequences_api::delete_sequence(&c, &id, None, None).await.unwrap();
    assert_eq!(deleted.data.unwrap().id, id);
    let gone = sequences_api::get_sequence(&c, &id, None).await.unwrap_err();
    assert_eq!(gone.status().map(|s| s.as_u16()), Some(404));
    sequences_api::delete_sequence(&c, &bare_id, None, None).await.unwrap();
}

/// A one-connection-per-request HTTP server answering the given statuses in turn (then 200).
async fn busy_server(answers: Vec<u16>) -> (String, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (calls2, seen2) = (calls.clone(), seen.clone());
    tokio::spawn(async move {
        let answers = Arc::new(Mutex::new(answers));
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let n = calls2.fetch_add(1, Ordering::SeqCst);
            let status = answers.lock().unwrap().get(n).copied().unwrap_or(200);
            let mut buf = vec![0u8; 65536];
            let read = socket.read(&mut buf).await.unwrap();
            seen2.lock().unwrap().push(String::from_utf8_lossy(&buf[..read]).lines().next().unwrap_or("").to_owned());
            let body = if status == 200 {
                r#"{"status":"running","version":"0","api_enabled":true,"uptime_seconds":1,"store":"sqlite","timestamp":"2025-01-15T09:32:10Z"}"#.to_owned()
            } else {
                format!(r#"{{"type":"urn:tka:problem:unavailable","title":"Unavailable","status":{status},"detail":"busy","instance":"/api","error_code":"unavailable","request_id":"r"}}"#)
            };
            let ctype = if status == 200 { "application/json" } else { "application/problem+json" };
            let answer = format!("HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nRetry-After: 0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            socket.write_all(answer.as_bytes()).await.unwrap();
            socket.shutdown().await.ok();
        }
    });
    (url, calls, seen)
}

#[tokio::test]
async fn only_safe_requests_are_retried_on_429_and_503() {
    let policy = RetryPolicy { max_retries: 2, ..RetryPolicy::default() };

    let (url, calls, _) = busy_server(vec![503, 429]).await;
    let c = Configuration { retry: policy.clone(), ..config(&url) };
    assert_eq!(status_api::get_status(&c, None).await.unwrap().status, ServiceStatus::Running);
    assert_eq!(calls.load(Ordering::SeqCst), 3);                      // GET: retried

    let (url, calls, _) = busy_server(vec![503]).await;
    let c = Configuration { retry: policy.clone(), ..config(&url) };
    let err = commands_api::undo(&c, None, None, None).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);                      // POST without a key: never
    assert_eq!(err.problem().unwrap().error_code, "unavailable");
    assert!(matches!(err, Error::ResponseError(ref r) if matches!(r.entity, Some(commands_api::UndoError::Status503(_)))));

    let (url, calls, seen) = busy_server(vec![429, 503, 503, 503]).await;
    let c = Configuration { retry: policy, ..config(&url) };
    let err = commands_api::undo(&c, None, Some("k"), None).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 3);                      // keyed POST: up to max_retries
    assert_eq!(err.status().unwrap().as_u16(), 503);
    assert!(seen.lock().unwrap().iter().all(|line| line.starts_with("POST /api/commands/undo")));
}

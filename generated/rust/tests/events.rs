//! The events client (src/events.rs) against a live server: `TKA_BASE_URL=http://127.0.0.1:8000
//! cargo test` (TKA_TOKEN when the server has a token). Without TKA_BASE_URL the live test returns
//! early (and says so); the decoding test always runs.

use std::time::Duration;

use tka_sdk::apis::configuration::Configuration;
use tka_sdk::apis::{beats_api, sequences_api};
use tka_sdk::events::{
    ClientMessage, Event, EventStream, EventStreamOptions, EventType, MessageId, ServerMessage, StoreStatusValue,
};
use tka_sdk::models::{AddBeatRequest, BeatInput, CreateSequenceRequest, PositionName, UpdateSequenceRequest};

const WAIT: Duration = Duration::from_secs(15);

async fn next_event(stream: &mut EventStream) -> Event {
    stream.next_event_timeout(WAIT).await.unwrap().expect("an event within 15 s")
}

#[tokio::test]
async fn live_events_arrive_in_order_and_a_reconnect_resumes_without_gap_or_duplicate() {
    let Ok(base) = std::env::var("TKA_BASE_URL") else {
        eprintln!("skipped: set TKA_BASE_URL to a running tka server");
        return;
    };
    let token = std::env::var("TKA_TOKEN").ok();
    let c = Configuration {
        base_path: base.trim_end_matches('/').to_owned(),
        bearer_access_token: token.clone(),
        ..Configuration::default()
    };
    let rename = |name: &str| UpdateSequenceRequest { name: Some(name.into()), ..UpdateSequenceRequest::new() };
    let letter = |l: &str| AddBeatRequest::new(BeatInput { letter: Some(l.into()), ..BeatInput::new() });

    let mut request = CreateSequenceRequest::new("Rust events".into());
    request.start_position = Some(PositionName::Alpha1);
    let id = sequences_api::create_sequence(&c, request, None, None).await.unwrap().data.unwrap().id;

    // Subscribe to this sequence's sequence.* events (other tests may change other sequences).
    let options = EventStreamOptions {
        token,
        event_types: Some(vec!["*".into()]),
        backoff_initial: Duration::from_millis(50),
        ..Default::default()
    };
    let mut stream = EventStream::new(&base, options);
    let hello = stream.connect().await.unwrap();
    assert_eq!(hello.protocol_version, 1);
    assert!(hello.client_id.starts_with("client_"), "{}", hello.client_id);
    assert_eq!(stream.last_event_id(), Some(hello.last_event_id));
    let filters = stream.set_filters(vec!["sequence.*".into()], Some(vec![id.clone()])).await.unwrap().unwrap();
    assert_eq!(filters.event_types, vec!["sequence.*".to_owned()]);
    assert_eq!(filters.sequence_ids, vec![id.clone()]);
    assert!(stream.url().unwrap().contains("event_type=sequence.*") || stream.url().unwrap().contains("event_type=sequence.%2A"));

    // Three changes over REST, three events in order.
    beats_api::add_beat(&c, &id, letter("A"), None, None, None).await.unwrap();
    sequences_api::update_sequence(&c, &id, rename("Rust events 2"), None, None).await.unwrap();
    beats_api::add_beat(&c, &id, letter("B"), None, None, None).await.unwrap();
    let first: Vec<Event> = vec![next_event(&mut stream).await, next_event(&mut stream).await, next_event(&mut stream).await];
    let kinds: Vec<EventType> = first.iter().map(Event::kind).collect();
    assert_eq!(kinds, vec![EventType::SequenceBeatAdded, EventType::SequenceUpdated, EventType::SequenceBeatAdded]);
    assert!(first.windows(2).all(|w| w[0].event_id < w[1].event_id), "{first:?}");
    assert!(first[0].event_id > hello.last_event_id);
    assert!(first.iter().all(|e| e.sequence_id.as_deref() == Some(id.as_str())));
    assert_eq!(first[0].data.total_beats, Some(1));
    assert_eq!(first[0].data.beat.as_ref().unwrap().letter.as_deref(), Some("A"));
    assert_eq!(first[1].data.sequence.as_ref().unwrap().name, "Rust events 2");
    assert_eq!(first[2].data.sequence.as_ref().unwrap().beats.len(), 2);
    assert_eq!(stream.last_event_id(), Some(first[2].event_id));

    // ping: the server has sent everything up to the last event.
    let pong = stream.ping().await.unwrap();
    assert!(pong.last_event_id >= first[2].event_id);
    assert!(matches!(pong.id, Some(MessageId::Text(_))));
    let stats = stream.get_stats().await.unwrap();
    assert!(stats.data.is_object());
    assert!(stream.store_available());

    // Cut the connection; two changes while it is down.
    stream.drop_connection();
    assert!(!stream.is_connected());
    beats_api::add_beat(&c, &id, letter("C"), None, None, None).await.unwrap();
    sequences_api::update_sequence(&c, &id, rename("Rust events 3"), None, None).await.unwrap();

    // The next read reconnects with ?since= and the filters: a new hello, then exactly those two.
    match stream.next_message().await.unwrap() {
        ServerMessage::ConnectionEstablished(again) => assert_ne!(again.client_id, hello.client_id),
        other => panic!("expected the hello of the reconnect, got {other:?}"),
    }
    let second = vec![next_event(&mut stream).await, next_event(&mut stream).await];
    assert_eq!(second.iter().map(Event::kind).collect::<Vec<_>>(), vec![EventType::SequenceBeatAdded, EventType::SequenceUpdated]);
    assert_eq!(second[0].data.beat.as_ref().unwrap().letter.as_deref(), Some("C"));
    assert!(first[2].event_id < second[0].event_id && second[0].event_id < second[1].event_id);
    assert_eq!(stream.next_event_timeout(Duration::from_millis(500)).await.unwrap(), None, "no duplicate, nothing else");

    // The filters survived the reconnect: a change to another sequence is not delivered.
    let other = sequences_api::create_sequence(&c, CreateSequenceRequest::new("Rust events other".into()), None, None)
        .await.unwrap().data.unwrap().id;
    sequences_api::delete_sequence(&c, &id, None, None).await.unwrap();
    let deleted = next_event(&mut stream).await;
    assert_eq!(deleted.kind(), EventType::SequenceDeleted);
    assert_eq!(deleted.sequence_id.as_deref(), Some(id.as_str()));

    stream.close().await;
    assert!(stream.next_message().await.is_err());
    sequences_api::delete_sequence(&c, &other, None, None).await.unwrap();
}

#[test]
fn messages_decode_into_their_types() {
    let hello = r#"{"type":"connection_established","client_id":"client_1","protocol_version":1,"last_event_id":0,"heartbeat_interval":25,"timestamp":"2025-01-15T09:32:10.123Z"}"#;
    assert!(matches!(ServerMessage::parse(hello).unwrap(), ServerMessage::ConnectionEstablished(h) if h.client_id == "client_1"));
    let event = r#"{"type":"event","event_id":7,"event_type":"motion.generated","timestamp":"t","sequence_id":null,"request_id":null,"command_id":"c","data":{"seed":3,"level":1,"command_type":"generate"}}"#;
    let ServerMessage::Event(e) = ServerMessage::parse(event).unwrap() else { panic!() };
    assert_eq!((e.event_id, e.kind(), e.data.other["seed"].as_i64()), (7, EventType::MotionGenerated, Some(3)));
    assert_eq!(e.data.command_type.as_deref(), Some("generate"));
    let future = r#"{"type":"event","event_id":8,"event_type":"palette.changed","timestamp":"t","sequence_id":null,"request_id":null,"command_id":null,"data":{}}"#;
    let ServerMessage::Event(e) = ServerMessage::parse(future).unwrap() else { panic!() };
    assert_eq!(e.kind(), EventType::Unknown);
    let status = r#"{"type":"store_status","status":"unavailable","retry_after":5,"last_event_id":7,"timestamp":"t"}"#;
    assert!(matches!(ServerMessage::parse(status).unwrap(), ServerMessage::StoreStatus(s) if s.status == StoreStatusValue::Unavailable));
    let resync = r#"{"type":"resync_required","since":1,"reason":"expired","oldest_event_id":null,"last_event_id":9,"message":"m","timestamp":"t"}"#;
    assert!(matches!(ServerMessage::parse(resync).unwrap(), ServerMessage::ResyncRequired(r) if r.last_event_id == 9));
    let error = r#"{"type":"error","id":3,"code":"slow_consumer","message":"m","resume_since":4,"timestamp":"t"}"#;
    assert!(matches!(ServerMessage::parse(error).unwrap(), ServerMessage::Error(e) if e.id == Some(MessageId::Number(3))));
    for t in ["heartbeat", "pong"] {
        let text = format!(r#"{{"type":"{t}","last_event_id":2,"timestamp":"t"}}"#);
        assert!(!matches!(ServerMessage::parse(&text).unwrap(), ServerMessage::Other(_)));
    }
    assert!(matches!(ServerMessage::parse(r#"{"type":"new_kind","x":1}"#).unwrap(), ServerMessage::Other(_)));
    let filters = ClientMessage::SetFilters { id: None, event_types: vec!["sequence.*".into()], sequence_ids: vec![] };
    assert_eq!(serde_json::to_string(&filters).unwrap(), r#"{"type":"set_filters","event_types":["sequence.*"],"sequence_ids":[]}"#);
}

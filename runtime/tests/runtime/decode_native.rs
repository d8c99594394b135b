//! The native JSON-lines decoder and the event builder: fields, coercions, bounds, bad lines,
//! invalid UTF-8, hostile nesting.

use std::net::IpAddr;

use vigil_runtime::decode::{Decoder, ErrorCode};
use vigil_runtime::event::{Event, EventBuilder, Source, FLAG_PRESENT, FLAG_TRUNCATED};
use vigil_runtime::schema::{FieldIndex, Schema};
use vigil_runtime::value::Value;

fn ix(schema: &Schema, event: &str, field: &str) -> FieldIndex {
    let (_, et) = schema.event(event).expect("event type");
    et.field(field).expect("field").0
}

fn decode_one<'a>(decoder: &mut Decoder, line: &'a [u8]) -> Event<'a> {
    let mut out = Vec::new();
    decoder.decode_line(line, 1, &mut out).expect("good line");
    assert_eq!(out.len(), 1);
    out.pop().expect("one event")
}

#[test]
fn native_line_fields_and_borrowed_strings() {
    let schema = Schema::endpoint();
    let mut d = Decoder::native(&schema);
    d.set_file(Some("x.jsonl"));
    let line = br#"{"event": "process_start", "time": 1700000000000000000, "host": "pc1", "image": "C:/Windows/cmd.exe", "pid": "0x10", "ppid": 4, "args": ["cmd", "/c", "dir"], "command_line": "cmd /c \"dir\"", "extra": 1}"#;
    let ev = decode_one(&mut d, line);
    let f = |name| ix(&schema, "process_start", name);
    assert_eq!(ev.time(), 1_700_000_000_000_000_000);
    assert_eq!(ev.host(), "pc1");
    assert_eq!(ev.get_str(f("image")), "C:/Windows/cmd.exe");
    assert_eq!(ev.get_int(f("pid")), 16);
    assert_eq!(ev.get_int(f("ppid")), 4);
    assert_eq!(ev.get_str(f("command_line")), "cmd /c \"dir\"");
    assert_eq!(ev.list_len(f("args")), 3);
    assert_eq!(ev.list_item_str(f("args"), 2), "dir");
    assert_eq!(
        ev.value(f("args")),
        Some(Value::List(
            ["cmd", "/c", "dir"]
                .iter()
                .map(|s| Value::Str((*s).into()))
                .collect()
        ))
    );
    // Strings without escapes point into the line itself.
    let range = line.as_ptr_range();
    let image = ev.get_str(f("image"));
    assert!(range.contains(&image.as_ptr()), "borrowed, not copied");
    // The slot layout agrees with the accessors.
    let slot = ev.slots()[usize::from(f("image").0)];
    assert_eq!(
        (slot.w0, slot.w1),
        (image.as_ptr() as u64, image.len() as u64)
    );
    assert_eq!(ev.flags()[usize::from(f("image").0)], FLAG_PRESENT);
    assert_eq!(
        ev.source(),
        Some(&Source::Line {
            file: Some("x.jsonl".into()),
            line: 1
        })
    );
    assert_eq!(d.stats().unknown_fields, 1);
    assert_eq!(d.stats().events, 1);
    // Absent fields read empty.
    assert!(!ev.is_present(f("user")));
    assert_eq!(ev.get_str(f("user")), "");
}

#[test]
fn values_go_through_the_coercion_table() {
    let schema = Schema::endpoint();
    let mut d = Decoder::native(&schema);
    let ev = decode_one(
        &mut d,
        br#"{"event": "network_connect", "time": "2019-03-19T23:45:04.123456Z", "initiated": "TRUE", "source_ip": "-", "dest_ip": "::ffff:10.0.0.1", "dest_port": "abc", "source_port": null, "protocol": 6}"#,
    );
    let f = |name| ix(&schema, "network_connect", name);
    assert_eq!(ev.time(), 1_553_039_104_123_456_000);
    assert!(ev.get_bool(f("initiated")));
    assert!(!ev.is_present(f("source_ip")), "\"-\" is absent");
    assert_eq!(
        ev.get_ip(f("source_ip")),
        "0.0.0.0".parse::<IpAddr>().expect("ip")
    );
    assert_eq!(
        ev.get_ip(f("dest_ip")),
        "10.0.0.1".parse::<IpAddr>().expect("ip")
    );
    assert!(!ev.is_present(f("dest_port")), "uncoercible is absent");
    assert!(!ev.is_present(f("source_port")));
    assert_eq!(
        ev.get_str(f("protocol")),
        "6",
        "a number for a string is its text"
    );
    assert_eq!(d.stats().uncoercible_values, 1);
}

#[test]
fn bad_lines_are_counted_with_line_numbers_and_the_stream_goes_on() {
    let schema = Schema::endpoint();
    let input = concat!(
        "{\"event\": \"process_end\", \"pid\": 1}\n",
        "{\"event\": \"process_end\", \"pid\": \n",
        "\n",
        "[1, 2]\n",
        "{\"pid\": 3}\n",
        "{\"event\": \"no_such_event\"}\n",
        "{\"event\": 7}\n",
        "{\"event\": \"process_end\", \"pid\": 8}\r\n",
    );
    let mut d = Decoder::native(&schema);
    let mut pids = Vec::new();
    let pid = ix(&schema, "process_end", "pid");
    d.decode_reader(input.as_bytes(), |ev| pids.push(ev.get_int(pid)))
        .expect("not strict");
    assert_eq!(pids, vec![1, 8]);
    let s = d.stats();
    assert_eq!(s.lines, 8);
    assert_eq!(s.bad_lines, 5);
    let got: Vec<(u64, ErrorCode)> = s.first_errors.iter().map(|e| (e.line, e.code)).collect();
    assert_eq!(
        got,
        vec![
            (2, ErrorCode::BadJson),
            (4, ErrorCode::BadJson),
            (5, ErrorCode::MissingEventType),
            (6, ErrorCode::DecodeUnknownEventType),
            (7, ErrorCode::MissingEventType),
        ]
    );
    assert_eq!(s.bad_by_code.get(&ErrorCode::BadJson), Some(&2));
    assert!(s.first_errors[3]
        .to_string()
        .starts_with("error[E0702]: line 6: unknown event type `no_such_event`"));

    let mut strict = Decoder::native(&schema).strict(true);
    let mut n = 0;
    let err = strict
        .decode_reader(input.as_bytes(), |_| n += 1)
        .expect_err("strict stops");
    assert_eq!((err.line, err.code, n), (2, ErrorCode::BadJson, 1));
}

#[test]
fn strings_are_cut_at_a_character_boundary_and_flagged() {
    let schema = Schema::endpoint();
    // integrity_level: max_len 32. "€" is 3 bytes: 11 of them are 33 bytes, cut to 30.
    let euros = "€".repeat(11);
    let line =
        format!(r#"{{"event": "process_start", "integrity_level": "{euros}", "user": "ok"}}"#);
    let mut d = Decoder::native(&schema);
    let ev = decode_one(&mut d, line.as_bytes());
    let il = ix(&schema, "process_start", "integrity_level");
    assert_eq!(ev.get_str(il), "€".repeat(10));
    assert!(ev.is_truncated(il));
    assert_eq!(ev.flags()[usize::from(il.0)], FLAG_PRESENT | FLAG_TRUNCATED);
    assert!(!ev.is_truncated(ix(&schema, "process_start", "user")));
    assert_eq!(d.stats().truncated_values, 1);

    // Exactly max_len bytes is not cut; one 2-byte char over a 1-byte boundary is.
    let mut b = EventBuilder::new(&schema, "process_start").expect("type");
    b.set_string("integrity_level", "a".repeat(32))
        .expect("set");
    assert!(!b.finish().is_truncated(il));
    let mut b = EventBuilder::new(&schema, "process_start").expect("type");
    b.set_string("integrity_level", format!("{}é", "a".repeat(31)))
        .expect("set");
    let ev = b.finish();
    assert_eq!(ev.get_str(il), "a".repeat(31));
    assert!(ev.is_truncated(il));
}

#[test]
fn list_items_beyond_max_items_are_dropped_and_flagged() {
    let schema = Schema::endpoint();
    let args = ix(&schema, "process_start", "args");
    let items: Vec<String> = (0..70).map(|i| format!("\"a{i}\"")).collect();
    let line = format!(
        r#"{{"event": "process_start", "args": [{}]}}"#,
        items.join(",")
    );
    let mut d = Decoder::native(&schema);
    let ev = decode_one(&mut d, line.as_bytes());
    assert_eq!(ev.list_len(args), 64);
    assert_eq!(ev.list_item_str(args, 63), "a63");
    assert!(ev.is_truncated(args));
    assert_eq!(ev.dropped_items(), 6);
    assert_eq!(d.stats().dropped_items, 6);
    // A scalar for a list field is a one-item list; an empty array is present with no items.
    let ev = decode_one(&mut d, br#"{"event": "process_start", "args": "solo"}"#);
    assert_eq!((ev.list_len(args), ev.list_item_str(args, 0)), (1, "solo"));
    let ev = decode_one(&mut d, br#"{"event": "process_start", "args": []}"#);
    assert!(ev.is_present(args));
    assert_eq!(ev.list_len(args), 0);
}

#[test]
fn invalid_utf8_and_lone_surrogates_become_replacement_characters() {
    let schema = Schema::endpoint();
    let image = ix(&schema, "process_start", "image");
    let user = ix(&schema, "process_start", "user");
    let mut d = Decoder::native(&schema);
    let ev = decode_one(
        &mut d,
        b"{\"event\": \"process_start\", \"image\": \"a\xffb\", \"user\": \"bob\"}",
    );
    assert_eq!(ev.get_str(image), "a\u{FFFD}b");
    assert!(ev.is_truncated(image));
    assert!(!ev.is_truncated(user));
    let ev = decode_one(
        &mut d,
        br#"{"event": "process_start", "image": "x\ud800y", "user": "\ud83d\ude00"}"#,
    );
    assert_eq!(ev.get_str(image), "x\u{FFFD}y");
    assert!(ev.is_truncated(image));
    assert_eq!(ev.get_str(user), "\u{1F600}", "a valid pair is kept");
    assert!(!ev.is_truncated(user));
    assert_eq!(d.stats().invalid_utf8_lines, 2);
}

fn deep(open: &str, close: &str, n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n * 2);
    for _ in 0..n {
        v.extend_from_slice(open.as_bytes());
    }
    for _ in 0..n {
        v.extend_from_slice(close.as_bytes());
    }
    v
}

#[test]
fn hostile_nesting_does_not_overflow_the_stack() {
    // Run on a small stack: the decoder must not recurse with the nesting.
    let t = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let schema = Schema::endpoint();
            let mut d = Decoder::native(&schema);
            let mut out = Vec::new();
            let arrays = deep("[", "]", 100_000);
            let err = d.decode_line(&arrays, 1, &mut out).expect_err("not an object");
            assert_eq!(err.code, ErrorCode::BadJson);
            let unclosed = vec![b'['; 100_000];
            assert!(d.decode_line(&unclosed, 2, &mut out).is_err());
            let mut line = br#"{"event": "process_start", "image": "i", "args": "#.to_vec();
            line.extend(deep("[", "]", 100_000));
            line.extend(br#", "user": "#);
            line.extend(r#"{"a":"#.repeat(100_000).bytes());
            line.extend(b"1");
            line.extend("}".repeat(100_000).bytes());
            line.extend(b"}");
            // Whatever the parser decides about this line (serde_json's own nesting limit may
            // refuse it), it returns.
            let _ = d.decode_line(&line, 3, &mut out);
            let ok = br#"{"event": "process_start", "image": "i", "args": [[1], {"a": [2]}, "x"], "user": {"a": {"b": []}}}"#;
            out.clear();
            d.decode_line(ok, 4, &mut out).expect("nested values are skipped, not fatal");
            let ev = out.pop().expect("event");
            let args = ix(&schema, "process_start", "args");
            assert_eq!(ev.list_len(args), 1, "only the scalar item");
            assert!(!ev.is_present(ix(&schema, "process_start", "user")));
        })
        .expect("spawn");
    t.join().expect("no stack overflow");
}

#[test]
fn builder_api_refuses_unknown_fields_and_wrong_types() {
    let schema = Schema::endpoint();
    assert_eq!(
        EventBuilder::new(&schema, "nope")
            .expect_err("unknown type")
            .code,
        ErrorCode::DecodeUnknownEventType
    );
    let mut b = EventBuilder::new(&schema, "process_start").expect("type");
    assert_eq!(
        b.set_str("comand_line", "x").expect_err("unknown").code,
        ErrorCode::DecodeUnknownField
    );
    assert_eq!(
        b.set_int("image", 1).expect_err("wrong type").code,
        ErrorCode::WrongType
    );
    assert_eq!(
        b.push_item("image", "x").expect_err("not a list").code,
        ErrorCode::WrongType
    );
    assert_eq!(
        b.set_int(FieldIndex(999), 1).expect_err("index").code,
        ErrorCode::DecodeUnknownField
    );
    let pid = ix(&schema, "process_start", "pid");
    b.set_int(pid, 5).expect("fast path");
    b.set_source(Some(Source::Record { id: 9 }));
    let ev = b.finish();
    assert_eq!(ev.get_int(pid), 5);
    // Wrong-type reads are the empty value, never a reinterpretation of the slot.
    assert_eq!(ev.get_str(pid), "");
    assert_eq!(ev.get_int(ix(&schema, "process_start", "image")), 0);
    assert_eq!(ev.source(), Some(&Source::Record { id: 9 }));
}

#[test]
fn events_are_reused_and_clones_own_their_addresses() {
    let schema = Schema::endpoint();
    let image = ix(&schema, "process_start", "image");
    let args = ix(&schema, "process_start", "args");
    let mut b = EventBuilder::new(&schema, "process_start").expect("type");
    b.set_string("image", "owned".to_owned()).expect("set");
    b.push_item("args", "a").expect("push");
    b.set_str("user", "u").expect("set");
    b.push_item("args", "b").expect("push");
    let ev = b.finish();
    let copy = ev.clone();
    drop(ev);
    assert_eq!(copy.get_str(image), "owned");
    let slot = copy.slots()[usize::from(image.0)];
    assert_eq!(slot.w0, copy.get_str(image).as_ptr() as u64);
    assert_eq!(copy.list_item_str(args, 1), "b");

    let recycled = copy.recycle();
    let mut b = EventBuilder::reuse(&schema, "process_end", recycled).expect("type");
    b.set_int("pid", 3).expect("set");
    let ev = b.finish();
    assert_eq!(
        ev.field_count(),
        schema.event("process_end").expect("type").1.fields.len()
    );
    assert!(!ev.is_present(ix(&schema, "process_end", "image")));
}

/// An event's string values together hold at most its type's `max_event_bytes`: longer
/// events are cut, longest values first (the shorter ones stay whole), each cut value flagged
/// and counted; what the verifier's `base + per_byte x n` bounds rest on. Through the JSON
/// decoder and through the builder alike.
#[test]
fn events_over_max_event_bytes_are_cut_longest_first() {
    let schema = Schema::endpoint();
    let max = schema
        .event("process_start")
        .map(|(_, e)| e.max_event_bytes as usize)
        .expect("process_start");
    assert_eq!(max, 262_144);
    let cl = ix(&schema, "process_start", "command_line");
    let image = ix(&schema, "process_start", "image");
    let parent = ix(&schema, "process_start", "parent_command_line");
    let cwd = ix(&schema, "process_start", "current_directory");
    let user = ix(&schema, "process_start", "user");
    // Three values at their field's max_len (98,304) and one of 60,000: 354,912 bytes.
    let big = "a".repeat(98_304);
    let line = format!(
        r#"{{"event": "process_start", "command_line": "{big}", "image": "{big}", "parent_command_line": "{big}", "current_directory": "{}", "user": "alice"}}"#,
        "c".repeat(60_000)
    );
    let mut d = Decoder::native(&schema);
    let ev = decode_one(&mut d, line.as_bytes());
    let lens = [cl, image, parent, cwd, user].map(|f| ev.get_str(f).len());
    assert!(lens.iter().sum::<usize>() <= max, "{lens:?}");
    // The level L with 3L + 60,000 + 5 = 262,144: the three long values cut to it, the
    // shorter ones whole.
    assert_eq!(lens[4], 5);
    assert_eq!(lens[3], 60_000);
    assert_eq!(lens[0], (max - 60_005) / 3);
    assert_eq!(lens[0], lens[1]);
    assert_eq!(lens[1], lens[2]);
    for f in [cl, image, parent] {
        assert!(ev.is_truncated(f));
    }
    assert!(!ev.is_truncated(cwd) && !ev.is_truncated(user));
    assert_eq!(ev.truncated_values(), 3);

    // Within the bound nothing is cut.
    let mut b = EventBuilder::new(&schema, "process_start").expect("type");
    b.set_string("command_line", big.clone()).expect("set");
    b.set_string("image", big.clone()).expect("set");
    let ev = b.finish();
    assert_eq!(ev.get_str(cl).len(), 98_304);
    assert_eq!(ev.truncated_values(), 0);
}

/// A `[string]` list's items together hold at most its `max_total_len` (`args` cannot hold
/// more than a command line): the longest items are cut first.
#[test]
fn list_items_over_max_total_len_are_cut_longest_first() {
    let schema = Schema::endpoint();
    let args = ix(&schema, "process_start", "args");
    let total = schema
        .event("process_start")
        .and_then(|(_, e)| e.field("args"))
        .map(|(_, f)| f.max_total_len as usize)
        .expect("args");
    assert_eq!(total, 98_304);
    let mut b = EventBuilder::new(&schema, "process_start").expect("type");
    let long = "x".repeat(60_000);
    b.push_item("args", "short").expect("push");
    b.push_item("args", &long).expect("push");
    b.push_item("args", &long).expect("push");
    let ev = b.finish();
    let lens: Vec<usize> = (0..ev.list_len(args))
        .map(|i| ev.list_item_str(args, i).len())
        .collect();
    assert_eq!(lens.len(), 3);
    assert_eq!(lens[0], 5);
    assert_eq!(lens.iter().sum::<usize>(), total - 1, "{lens:?}");
    assert_eq!(lens[1], lens[2]);
    assert!(ev.is_truncated(args));
}

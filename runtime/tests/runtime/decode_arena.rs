//! Strings an event owns live in its one text buffer: unescaped strings, repaired text
//! (invalid UTF-8, lone surrogates), numbers given to string fields, owned strings handed to
//! the builder. Their values, bounds and flags are as before the buffer existed; the slots
//! point at them; a clone owns its own copy (its slots point into it, and it outlives the
//! original and the line); a recycled event reuses the buffer.

use vigil_runtime::decode::{Decoder, Mapping};
use vigil_runtime::event::{Event, EventBuilder, FLAG_PRESENT, FLAG_TRUNCATED};
use vigil_runtime::schema::{FieldIndex, Schema};
use vigil_runtime::value::Value;

fn ix(schema: &Schema, event: &str, field: &str) -> FieldIndex {
    let (_, et) = schema.event(event).expect("event type");
    et.field(field).expect("field").0
}

/// The slot of string field `f` points at exactly the text the accessor returns.
fn slot_matches(ev: &Event<'_>, f: FieldIndex) {
    let s = ev.get_str(f);
    let slot = ev.slots()[usize::from(f.0)];
    assert_eq!(
        (slot.w0, slot.w1),
        (s.as_ptr() as u64, s.len() as u64),
        "slot of field {}",
        f.0
    );
}

/// The slot of list field `f` holds its item count and an item array address.
fn items_match(ev: &Event<'_>, f: FieldIndex) {
    let slot = ev.slots()[usize::from(f.0)];
    assert_eq!(slot.w1 as usize, ev.list_len(f));
    assert_eq!(slot.w0 == 0, ev.list_len(f) == 0);
}

#[test]
fn escaped_strings_are_unescaped_into_the_event_and_survive_clone() {
    let schema = Schema::endpoint();
    let f = |name| ix(&schema, "process_start", name);
    let mut d = Decoder::native(&schema);
    let line = br#"{"event": "process_start", "image": "C:\\Windows\\System32\\cmd.exe", "command_line": "cmd /c \"echo \u00e9\t\ud83d\ude00\"", "user": "plain", "pid": 7, "integrity_level": 12345, "args": ["a\\b", "plain", 1.5, true]}"#;
    let clone = {
        let line = line.to_vec();
        let mut out = Vec::new();
        d.decode_line(&line, 1, &mut out).expect("good line");
        let ev = out.pop().expect("one event");
        assert_eq!(ev.get_str(f("image")), r"C:\Windows\System32\cmd.exe");
        assert_eq!(
            ev.get_str(f("command_line")),
            "cmd /c \"echo é\t\u{1F600}\""
        );
        assert_eq!(ev.get_str(f("integrity_level")), "12345", "a number's text");
        assert_eq!(
            ev.value(f("args")),
            Some(Value::List(
                [r"a\b", "plain", "1.5", "true"]
                    .iter()
                    .map(|s| Value::Str((*s).into()))
                    .collect()
            ))
        );
        // Unescaped text is the event's own; plain text is borrowed from the line.
        let range = line.as_ptr_range();
        assert!(!range.contains(&ev.get_str(f("image")).as_ptr()));
        assert!(range.contains(&ev.get_str(f("user")).as_ptr()));
        for name in ["image", "command_line", "user", "integrity_level"] {
            slot_matches(&ev, f(name));
            assert_eq!(ev.flags()[usize::from(f(name).0)], FLAG_PRESENT);
        }
        items_match(&ev, f("args"));
        let c = ev.clone();
        drop(ev);
        // `c` still borrows the line for its plain strings: check it while the line lives.
        assert_eq!(c.get_str(f("image")), r"C:\Windows\System32\cmd.exe");
        slot_matches(&c, f("image"));
        slot_matches(&c, f("command_line"));
        let emptied: Event<'static> = c.recycle();
        emptied
    };
    // The recycled clone is empty and reusable.
    assert_eq!(clone.field_count(), 0);
}

#[test]
fn owned_strings_given_to_the_builder_are_copied_and_cut() {
    let schema = Schema::endpoint();
    let il = ix(&schema, "process_start", "integrity_level");
    let max = schema
        .event("process_start")
        .expect("type")
        .1
        .field("integrity_level")
        .expect("field")
        .1
        .max_len as usize;
    let mut b = EventBuilder::new(&schema, "process_start").expect("type");
    // Cut at a character boundary below the limit, flagged truncated.
    b.set_string("integrity_level", format!("{}é", "a".repeat(max - 1)))
        .expect("set");
    b.set_string("image", "C:\\x".to_owned()).expect("set");
    b.push_item_cow("args", String::from("owned").into())
        .expect("push");
    b.push_item("args", "borrowed").expect("push");
    let ev = b.finish();
    assert_eq!(ev.get_str(il), "a".repeat(max - 1));
    assert_eq!(ev.flags()[usize::from(il.0)], FLAG_PRESENT | FLAG_TRUNCATED);
    assert_eq!(ev.truncated_values(), 1);
    slot_matches(&ev, il);
    let image = ix(&schema, "process_start", "image");
    slot_matches(&ev, image);
    let args = ix(&schema, "process_start", "args");
    assert_eq!(ev.list_item_str(args, 0), "owned");
    assert_eq!(ev.list_item_str(args, 1), "borrowed");
    // The clone's slots point into the clone, and it outlives the original.
    let copy = ev.clone();
    let image_ptr = ev.get_str(image).as_ptr();
    drop(ev);
    assert_ne!(copy.get_str(image).as_ptr(), image_ptr);
    assert_eq!(copy.get_str(image), "C:\\x");
    slot_matches(&copy, image);
    slot_matches(&copy, il);
    assert_eq!(copy.list_item_str(args, 0), "owned");
    // Recycled, the event holds nothing of its old values.
    let mut b = EventBuilder::reuse(&schema, "process_start", copy.recycle()).expect("type");
    b.set_str("user", "u").expect("set");
    let ev = b.finish();
    assert!(!ev.is_present(image));
    assert_eq!(ev.get_str(image), "");
    assert_eq!(ev.slots()[usize::from(image.0)], Default::default());
}

#[test]
fn repaired_lines_copy_their_strings_and_flag_replacements() {
    let schema = Schema::endpoint();
    let f = |name| ix(&schema, "process_start", name);
    let mut d = Decoder::native(&schema);
    let mut out = Vec::new();
    let line = b"{\"event\": \"process_start\", \"image\": \"C:\\\\bad\xff.exe\", \"user\": \"ok\", \"command_line\": \"lone \\udc00 and pair \\ud83d\\ude00\", \"args\": [\"x\xfe\", \"y\"]}";
    d.decode_line(line, 1, &mut out)
        .expect("repaired, not refused");
    let ev = out.pop().expect("event");
    assert_eq!(ev.get_str(f("image")), "C:\\bad\u{FFFD}.exe");
    assert!(ev.is_truncated(f("image")));
    assert_eq!(ev.get_str(f("user")), "ok");
    assert!(!ev.is_truncated(f("user")));
    assert_eq!(
        ev.get_str(f("command_line")),
        "lone \u{FFFD} and pair \u{1F600}"
    );
    assert!(ev.is_truncated(f("command_line")));
    assert_eq!(ev.list_item_str(f("args"), 0), "x\u{FFFD}");
    assert!(ev.is_truncated(f("args")));
    for name in ["image", "user", "command_line"] {
        slot_matches(&ev, f(name));
    }
    assert_eq!(d.stats().invalid_utf8_lines, 1);
    let copy = ev.clone();
    drop(ev);
    drop(out);
    assert_eq!(copy.get_str(f("image")), "C:\\bad\u{FFFD}.exe");
    slot_matches(&copy, f("image"));
}

#[test]
fn mapped_events_of_one_record_each_own_their_strings() {
    let schema = Schema::endpoint();
    let mapping = Mapping::builtin("windows").expect("mapping");
    let mut d = Decoder::with_mapping(&schema, &mapping).expect("fits");
    let line = br#"{"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "pc", "UtcTime": "2024-01-02 03:04:05.678", "Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd.exe /c \"dir\"", "ProcessId": "42"}"#;
    let mut out = Vec::new();
    d.decode_line(line, 1, &mut out).expect("routed");
    assert_eq!(out.len(), 2, "process_start and win_sysmon");
    let image = ix(&schema, "process_start", "image");
    assert_eq!(out[0].get_str(image), r"C:\Windows\System32\cmd.exe");
    let (_, sysmon) = schema.event("win_sysmon").expect("type");
    let sysmon_image = sysmon.field("image").expect("field").0;
    assert_eq!(out[1].get_str(sysmon_image), r"C:\Windows\System32\cmd.exe");
    assert_ne!(
        out[0].get_str(image).as_ptr(),
        out[1].get_str(sysmon_image).as_ptr(),
        "each event owns its copy"
    );
    slot_matches(&out[0], image);
    slot_matches(&out[1], sysmon_image);
    assert_eq!(out[0].time(), 1_704_164_645_678_000_000);
    // Recycled events take their buffers back; the next line reuses them.
    let spare = d.recycle(out);
    let mut out = spare;
    d.decode_line(line, 2, &mut out).expect("routed");
    assert_eq!(out[0].get_str(image), r"C:\Windows\System32\cmd.exe");
    slot_matches(&out[0], image);
}

/// A builder started from a layout resolved once (`EventBuilder::reuse_with`) makes the same
/// event as one started by name; a layout of another type is not trusted (recomputed), so the
/// event still has its own type's fields, time and host.
#[test]
fn a_builder_from_a_layout_builds_what_a_builder_by_name_does() {
    use vigil_runtime::event::TypeLayout;
    let schema = Schema::endpoint();
    let (ty, et) = schema.event("process_start").expect("type");
    let (_, other) = schema.event("network_connect").expect("type");
    fn fill(mut b: EventBuilder<'_, 'static>) -> Event<'static> {
        b.set_int("time", 7).expect("time");
        b.set_str("host", "h").expect("host");
        b.set_str("image", "x.exe").expect("image");
        b.finish()
    }
    let by_name =
        fill(EventBuilder::reuse(&schema, "process_start", Event::default()).expect("type"));
    for layout in [TypeLayout::of(et), TypeLayout::of(other)] {
        let ev = fill(EventBuilder::reuse_with(ty, et, &layout, Event::default()));
        assert_eq!(ev.ty(), by_name.ty());
        assert_eq!(ev.field_count(), by_name.field_count());
        assert_eq!((ev.time(), ev.host()), (7, "h"));
        assert_eq!(ev.get_str(ix(&schema, "process_start", "image")), "x.exe");
        assert_eq!(ev.flags(), by_name.flags());
    }
}

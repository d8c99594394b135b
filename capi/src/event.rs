//! `vigil_builder` and `vigil_event`: events a C host builds by hand, without JSON. A builder
//! makes events of one type of its deployer's host schema; its fields are resolved once by
//! name into `vigil_field` handles and set by handle, every value checked against the
//! field's type and bound. `vigil_builder_finish` moves the built event into a reusable
//! `vigil_event`, which `vigil_deployer_process` (here, beside it) runs on the deployer. One thread at a time per builder and
//! per event; a worker thread has its own.

use std::ffi::{c_char, c_void};
use std::net::IpAddr;
use std::sync::Arc;

use vigil_runtime::event::{EventBuilder, Source, TypeLayout};
use vigil_runtime::schema::{EventTypeId, FieldIndex};
use vigil_runtime::{DecodeError, ErrorCode, Event, Schema};

use crate::deployer::{count, run, vigil_alert_fn, vigil_deployer};
use crate::status::{clear_out, free, give, guard, handle, handle_mut, text, vigil_status, Error};

/// A field of a builder's event type, resolved once by name (`vigil_builder_field`).
pub type vigil_field = u32;

/// An event, filled by `vigil_builder_finish` (again and again: its buffers are reused) and
/// run by `vigil_deployer_process`. One thread at a time.
#[derive(Debug, Default)]
pub struct vigil_event {
    pub(crate) ev: Event<'static>,
    /// The schema of the builder that filled it; `None` while empty.
    owner: Option<Arc<Schema>>,
}

impl vigil_event {
    /// Refuses an event built for another deployer's schema (its type and field numbers would
    /// mean something else there).
    pub(crate) fn check_owner(&self, schema: &Arc<Schema>) -> Result<(), Error> {
        match &self.owner {
            Some(owner) if Arc::ptr_eq(owner, schema) => Ok(()),
            Some(_) => Err(Error::new(
                vigil_status::VIGIL_E_STATE,
                "the event was built by a builder of another deployer",
            )),
            None => Err(Error::new(
                vigil_status::VIGIL_E_STATE,
                "the event is empty: fill it with vigil_builder_finish first",
            )),
        }
    }
}

/// A builder of events of one type. One thread at a time.
pub struct vigil_builder {
    /// The event being built. Declared before `schema`, so dropped before it: it borrows it.
    building: Option<EventBuilder<'static, 'static>>,
    ty: EventTypeId,
    /// The type's field kinds and `time`/`host` slots, resolved once: starting each event
    /// does no lookup by name.
    layout: TypeLayout,
    record_id: Option<u64>,
    schema: Arc<Schema>,
}

impl std::fmt::Debug for vigil_builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("vigil_builder")
            .field("ty", &self.ty)
            .finish_non_exhaustive()
    }
}

/// The schema behind an `Arc`, for as long as the builder holding the `Arc` lives.
fn schema_ref(schema: &Arc<Schema>) -> &'static Schema {
    // SAFETY: the `Arc`'s target never moves and lives while any clone does; the builder that
    // holds the returned reference (in `building`) also holds a clone (`schema`) and drops
    // `building` first (field order), and never hands the reference out.
    unsafe { &*Arc::as_ptr(schema) }
}

impl vigil_builder {
    fn fresh(&self, old: Event<'static>) -> Result<EventBuilder<'static, 'static>, Error> {
        let et = schema_ref(&self.schema)
            .event_by_id(self.ty)
            .ok_or_else(|| Error::new(vigil_status::VIGIL_E_STATE, "the builder has no type"))?;
        Ok(EventBuilder::reuse_with(self.ty, et, &self.layout, old))
    }

    fn building(&mut self) -> Result<&mut EventBuilder<'static, 'static>, Error> {
        if self.building.is_none() {
            self.building = Some(self.fresh(Event::default())?);
        }
        self.building
            .as_mut()
            .ok_or_else(|| Error::new(vigil_status::VIGIL_E_STATE, "the builder has no event"))
    }

    /// Runs a setter, reporting `VIGIL_TRUNCATED` when it cut a value or dropped an item.
    fn set(
        &mut self,
        field: vigil_field,
        f: impl FnOnce(&mut EventBuilder<'static, 'static>, FieldIndex) -> Result<(), DecodeError>,
    ) -> Result<vigil_status, Error> {
        let ix = FieldIndex(u16::try_from(field).map_err(|_| unknown_field(field))?);
        let b = self.building()?;
        let before = (b.truncated_values(), b.dropped_items());
        f(b, ix).map_err(decode_error)?;
        Ok(if (b.truncated_values(), b.dropped_items()) == before {
            vigil_status::VIGIL_OK
        } else {
            vigil_status::VIGIL_TRUNCATED
        })
    }
}

fn unknown_field(field: vigil_field) -> Error {
    Error::coded(
        vigil_status::VIGIL_E_UNKNOWN,
        ErrorCode::DecodeUnknownField,
        format!("no field #{field} in this builder's event type"),
    )
}

/// A builder error as a status: unknown names and handles, wrong types, the rest.
pub(crate) fn decode_error(e: DecodeError) -> Error {
    let status = match e.code {
        ErrorCode::DecodeUnknownField | ErrorCode::DecodeUnknownEventType => {
            vigil_status::VIGIL_E_UNKNOWN
        }
        ErrorCode::WrongType => vigil_status::VIGIL_E_TYPE,
        _ => vigil_status::VIGIL_E_INVALID,
    };
    Error {
        status,
        code: Some(e.code.code()),
        message: e.message,
    }
}

/// An empty event, to be filled by `vigil_builder_finish` again and again.
///
/// Threads: one thread at a time per builder and per event.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vigil_event_new(out: *mut *mut vigil_event) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        unsafe {
            clear_out(out, "out")?;
            give(out, vigil_event::default())
        }
    })
}

/// Frees an event; NULL does nothing.
///
/// Threads: no other thread may use the handle during or after the call.
///
/// # Safety
/// `event` is NULL or an event not freed before.
#[no_mangle]
pub unsafe extern "C" fn vigil_event_free(event: *mut vigil_event) {
    // SAFETY: the header's contract.
    unsafe { free(event) }
}

/// A builder of events of type `event_type` (`"process_start"`) of the deployer's host
/// schema: `VIGIL_E_UNKNOWN` when the schema has no such type. The builder keeps the schema;
/// it may outlive the deployer.
///
/// Threads: one thread at a time per builder and per event.
///
/// # Safety
/// `deployer` is NULL or live; `event_type` is NULL or `event_type_len` readable bytes; `out`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn vigil_builder_new(
    deployer: *const vigil_deployer,
    event_type: *const c_char,
    event_type_len: usize,
    out: *mut *mut vigil_builder,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        unsafe { clear_out(out, "out") }?;
        // SAFETY: the header's contract.
        let (d, name) = unsafe {
            (
                handle(deployer, "deployer")?,
                text(event_type, event_type_len, "event_type")?,
            )
        };
        let (ty, et) = d.schema.event(name).ok_or_else(|| {
            Error::coded(
                vigil_status::VIGIL_E_UNKNOWN,
                ErrorCode::DecodeUnknownEventType,
                format!(
                    "no event type `{name}` in the host schema `{}`",
                    d.schema.label()
                ),
            )
        })?;
        let mut b = vigil_builder {
            building: None,
            ty,
            layout: TypeLayout::of(et),
            record_id: None,
            schema: Arc::clone(&d.schema),
        };
        b.building = Some(b.fresh(Event::default())?);
        // SAFETY: the header's contract.
        unsafe { give(out, b) }
    })
}

/// Resolves a field of the builder's event type by name, once: `VIGIL_E_UNKNOWN` when the
/// type has no such field.
///
/// Threads: one thread at a time per builder and per event.
///
/// # Safety
/// `builder` is NULL or live; `name` is NULL or `name_len` readable bytes; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn vigil_builder_field(
    builder: *const vigil_builder,
    name: *const c_char,
    name_len: usize,
    out: *mut vigil_field,
) -> vigil_status {
    guard(|| {
        if out.is_null() {
            return Err(Error::null("out"));
        }
        // SAFETY: the header's contract.
        let (b, name) = unsafe { (handle(builder, "builder")?, text(name, name_len, "name")?) };
        let et = b.schema.event_by_id(b.ty).ok_or_else(|| unknown_field(0))?;
        let (ix, _) = et.field(name).ok_or_else(|| {
            Error::coded(
                vigil_status::VIGIL_E_UNKNOWN,
                ErrorCode::DecodeUnknownField,
                format!("no field `{name}` on event `{}`", et.name),
            )
        })?;
        // SAFETY: the header's contract.
        unsafe { *out = u32::from(ix.0) };
        Ok(vigil_status::VIGIL_OK)
    })
}

/// Sets a string field to a copy of `value`. Over the field's bound it is cut at a character
/// boundary, the field flagged truncated, and `VIGIL_TRUNCATED` returned. Setting a field
/// twice keeps the last value.
///
/// Threads: one thread at a time per builder and per event.
///
/// # Safety
/// `builder` is NULL or live; `value` is NULL or `value_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn vigil_builder_set_str(
    builder: *mut vigil_builder,
    field: vigil_field,
    value: *const c_char,
    value_len: usize,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let (b, v) = unsafe {
            (
                handle_mut(builder, "builder")?,
                text(value, value_len, "value")?,
            )
        };
        b.set(field, |eb, ix| eb.set_copied(ix, v))
    })
}

/// Sets an int field.
///
/// Threads: one thread at a time per builder and per event.
///
/// # Safety
/// `builder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn vigil_builder_set_int(
    builder: *mut vigil_builder,
    field: vigil_field,
    value: i64,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        b.set(field, |eb, ix| eb.set_int(ix, value))
    })
}

/// Sets a bool field.
///
/// Threads: one thread at a time per builder and per event.
///
/// # Safety
/// `builder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn vigil_builder_set_bool(
    builder: *mut vigil_builder,
    field: vigil_field,
    value: bool,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        b.set(field, |eb, ix| eb.set_bool(ix, value))
    })
}

fn parse_ip(text: &str) -> Result<IpAddr, Error> {
    text.parse::<IpAddr>().map_err(|_| {
        Error::coded(
            vigil_status::VIGIL_E_INVALID,
            ErrorCode::WrongType,
            format!("`{text}` is not an IP address"),
        )
    })
}

/// Sets an ip field from its text (`"10.0.0.1"`, `"2001:db8::1"`): `VIGIL_E_INVALID` when it
/// is not an address.
///
/// Threads: one thread at a time per builder and per event.
///
/// # Safety
/// `builder` is NULL or live; `ip` is NULL or `ip_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn vigil_builder_set_ip(
    builder: *mut vigil_builder,
    field: vigil_field,
    ip: *const c_char,
    ip_len: usize,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let (b, t) = unsafe { (handle_mut(builder, "builder")?, text(ip, ip_len, "ip")?) };
        let addr = parse_ip(t)?;
        b.set(field, |eb, ix| eb.set_ip(ix, addr))
    })
}

/// Appends a copy of `value` to a list-of-strings field (the first push on an event starts
/// the list). Over the list's item bound the item is dropped, the field flagged truncated,
/// and `VIGIL_TRUNCATED` returned; so is an item cut to the field's string bound.
///
/// Threads: one thread at a time per builder and per event.
///
/// # Safety
/// `builder` is NULL or live; `value` is NULL or `value_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn vigil_builder_push_str(
    builder: *mut vigil_builder,
    field: vigil_field,
    value: *const c_char,
    value_len: usize,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let (b, v) = unsafe {
            (
                handle_mut(builder, "builder")?,
                text(value, value_len, "value")?,
            )
        };
        b.set(field, |eb, ix| eb.push_copied(ix, v))
    })
}

/// Appends an item to a list-of-ints field; as `vigil_builder_push_str` at the bound.
///
/// Threads: one thread at a time per builder and per event.
///
/// # Safety
/// `builder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn vigil_builder_push_int(
    builder: *mut vigil_builder,
    field: vigil_field,
    value: i64,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        b.set(field, |eb, ix| eb.push_int_item(ix, value))
    })
}

/// Appends an address (text) to a list-of-ips field; as `vigil_builder_push_str` at the
/// bound.
///
/// Threads: one thread at a time per builder and per event.
///
/// # Safety
/// `builder` is NULL or live; `ip` is NULL or `ip_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn vigil_builder_push_ip(
    builder: *mut vigil_builder,
    field: vigil_field,
    ip: *const c_char,
    ip_len: usize,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let (b, t) = unsafe { (handle_mut(builder, "builder")?, text(ip, ip_len, "ip")?) };
        let addr = parse_ip(t)?;
        b.set(field, |eb, ix| eb.push_ip_item(ix, addr))
    })
}

/// Stamps the event being built with the sensor's own record number: its alerts carry it as
/// `source.record_id`. Kept for this event only.
///
/// Threads: one thread at a time per builder and per event.
///
/// # Safety
/// `builder` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn vigil_builder_set_record_id(
    builder: *mut vigil_builder,
    record_id: u64,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let b = unsafe { handle_mut(builder, "builder") }?;
        b.record_id = Some(record_id);
        Ok(vigil_status::VIGIL_OK)
    })
}

/// Moves what was set into `event` (replacing its contents; its buffers come back to the
/// builder for the next event) and starts the builder afresh, every field absent.
///
/// Threads: one thread at a time per builder and per event.
///
/// # Safety
/// `builder` and `event` are NULL or live, and not in use by another thread.
#[no_mangle]
pub unsafe extern "C" fn vigil_builder_finish(
    builder: *mut vigil_builder,
    event: *mut vigil_event,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        let (b, ev) = unsafe { (handle_mut(builder, "builder")?, handle_mut(event, "event")?) };
        b.building()?;
        let Some(mut done) = b.building.take() else {
            return Err(Error::new(
                vigil_status::VIGIL_E_STATE,
                "the builder has no event",
            ));
        };
        done.set_source(b.record_id.take().map(|id| Source::Record { id }));
        let old = std::mem::replace(&mut ev.ev, done.finish());
        ev.owner = Some(Arc::clone(&b.schema));
        b.building = Some(b.fresh(old)?);
        Ok(vigil_status::VIGIL_OK)
    })
}

/// Runs one event through the active bundle, calling `on_alert` (may be NULL: alerts are
/// then only counted) once per alert with `user`, and storing the number of alerts in
/// `*alerts` (may be NULL). Not evaluated: `VIGIL_E_DROPPED` (E0811, no bundle active).
/// An event built from another deployer's builder: `VIGIL_E_STATE`.
///
/// Threads: any number of threads may call this on one deployer at once.
///
/// # Safety
/// `deployer` and `event` are NULL or live handles (the event not being filled by another
/// thread); `alerts` is NULL or writable; `on_alert` is NULL or a function safe to call with
/// `user`.
#[no_mangle]
pub unsafe extern "C" fn vigil_deployer_process(
    deployer: *const vigil_deployer,
    event: *const vigil_event,
    on_alert: vigil_alert_fn,
    user: *mut c_void,
    alerts: *mut usize,
) -> vigil_status {
    guard(|| {
        // SAFETY: the header's contract.
        unsafe { count(alerts, 0) };
        // SAFETY: the header's contract.
        let (d, ev) = unsafe { (handle(deployer, "deployer")?, handle(event, "event")?) };
        ev.check_owner(&d.schema)?;
        let n = run(d, &ev.ev, on_alert, user)?;
        // SAFETY: the header's contract.
        unsafe { count(alerts, n) };
        Ok(vigil_status::VIGIL_OK)
    })
}

/// Frees a builder (and the event it was building); NULL does nothing.
///
/// Threads: no other thread may use the handle during or after the call.
///
/// # Safety
/// `builder` is NULL or a builder not freed before.
#[no_mangle]
pub unsafe extern "C" fn vigil_builder_free(builder: *mut vigil_builder) {
    // SAFETY: the header's contract.
    unsafe { free(builder) }
}

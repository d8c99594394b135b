//! The Cranelift `JITModule` setup: the host ISA, the flags, and the helper symbols compiled
//! rules call.
//!
//! Input: nothing but the host; output: an empty [`JITModule`] with every helper of
//! `helpers.rs` declared as an import ([`HelperIds`]). It must not compile rules (that is
//! `translate.rs`) nor free memory (the `JitProgram` owns the module and frees it on drop).

use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, Linkage, Module};

use super::helpers;
use super::translate::{helper_signatures, HelperIds};
use super::JitError;

/// A fresh module for the host, with the helpers declared.
pub(crate) fn new_module() -> Result<(JITModule, HelperIds), JitError> {
    let mut flags = settings::builder();
    let set = |flags: &mut settings::Builder, name: &str, value: &str| {
        flags
            .set(name, value)
            .map_err(|e| JitError::Host(format!("cranelift flag `{name}`: {e}")))
    };
    // cranelift-jit requires non-PIC code; helpers are called by absolute address.
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(&mut flags, "is_pic", "false")?;
    set(&mut flags, "opt_level", "speed")?;
    let isa_builder = cranelift_native::builder()
        .map_err(|e| JitError::Host(format!("host not supported: {e}")))?;
    let isa = isa_builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| JitError::Host(format!("host ISA: {e}")))?;
    if isa.pointer_bits() != 64 {
        // Slots hold addresses as u64 words: compiled code assumes 64-bit pointers.
        return Err(JitError::Host("the JIT needs a 64-bit host".into()));
    }

    let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
    let table: [(&str, *const u8); 6] = [
        ("vigil_str_test", helpers::vigil_str_test as *const u8),
        ("vigil_str_list", helpers::vigil_str_list as *const u8),
        (
            "vigil_member_const",
            helpers::vigil_member_const as *const u8,
        ),
        (
            "vigil_member_slots",
            helpers::vigil_member_slots as *const u8,
        ),
        ("vigil_regex", helpers::vigil_regex as *const u8),
        ("vigil_call", helpers::vigil_call as *const u8),
    ];
    for (name, ptr) in table {
        builder.symbol(name, ptr);
    }
    let mut module = JITModule::new(builder);

    let sigs = helper_signatures(&module);
    let mut ids = Vec::with_capacity(sigs.len());
    for (name, sig) in &sigs {
        let id = module
            .declare_function(name, Linkage::Import, sig)
            .map_err(|e| JitError::Internal(format!("declaring `{name}`: {e}")))?;
        ids.push(id);
    }
    let &[str_test, str_list, member_const, member_slots, regex, call] = ids.as_slice() else {
        return Err(JitError::Internal("helper table".into()));
    };
    Ok((
        module,
        HelperIds {
            str_test,
            str_list,
            member_const,
            member_slots,
            regex,
            call,
        },
    ))
}

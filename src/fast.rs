//! Direct Node-API entry points for the `Executor` methods a game loop calls
//! every tick.
//!
//! napi-rs generates the class from the `#[napi]` items in `lib.rs`: the
//! constructor, the finalizer and the typings. Its glue around each method
//! call also books the receiver in process-wide borrow tables (a mutex-guarded
//! hash map, an `Arc` per call and a class-registry lookup), which cost about
//! 200 ns per call here, more than a `run(1)` that pauses and resumes a guest.
//! The methods take `&self` and keep their state in `RefCell`s, so that
//! bookkeeping guards nothing they need. When the module loads, [`install`]
//! replaces every method and getter on `Executor.prototype` (not the
//! constructor, not `[Symbol.dispose]`) with a callback here that unwraps
//! the receiver, checks that it is an `Executor` (by the class type tag
//! napi-rs stamps on every instance it constructs, once per executor: see
//! [`checked`]) and calls the same Rust method.
//!
//! The receiver check replaces V8's signature check of napi-rs's methods: a
//! value that is not an `Executor` (a plain object, an object made with
//! `Object.create(Executor.prototype)`, a `structuredClone` of one, an object
//! of another addon's class) is a `TypeError` with code `ERR_INVALID_THIS`,
//! and what it wraps, if anything, is never read.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;

use crate::error::{js_error, panic_error, ErrorClass, ERR_INVALID_THIS};
use crate::Executor;

/// A Node-API callback.
type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// The value a callback returns to JS (or `Err`, thrown).
type Outcome = Result<sys::napi_value>;

/// Converts a method's return value to its JS value.
fn to_js<T: ToNapiValue>(env: &Env, value: T) -> Outcome {
    // SAFETY: `env` is the env of the callback in progress.
    unsafe { T::to_napi_value(env.raw(), value) }
}

/// The receiver and the first `N` arguments of a call (missing ones are
/// `undefined`), or `ERR_INVALID_THIS` when the receiver is not an
/// `Executor`. `remember`: add it to [`checked`] (not for `free()`, which
/// would only remove it again).
///
/// # Safety
/// `env` and `info` are those of the callback in progress. The returned
/// reference lives as long as the receiver, which the callback's handle
/// scope keeps alive until it returns; it must not outlive the callback.
unsafe fn receiver<'a, const N: usize>(
    env: &Env,
    info: sys::napi_callback_info,
    what: &str,
    remember: bool,
) -> Result<(&'a Executor, [sys::napi_value; N])> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let mut this = ptr::null_mut();
    // SAFETY: `argv` holds `argc` values; Node-API fills the ones not
    // passed with `undefined`.
    let status = unsafe {
        sys::napi_get_cb_info(
            env.raw(),
            info,
            &mut argc,
            argv.as_mut_ptr(),
            &mut this,
            ptr::null_mut(),
        )
    };
    if status != sys::Status::napi_ok {
        return Err(Error::new(
            Status::GenericFailure,
            "napi_get_cb_info failed",
        ));
    }
    let invalid = || {
        js_error(
            env,
            ErrorClass::Type,
            ERR_INVALID_THIS,
            &format!("{what} called on a value that is not an Executor"),
            &[],
        )
    };
    let mut native = ptr::null_mut();
    // SAFETY: a plain query on the current env; it fails (without setting
    // an exception) for a receiver that is not an object or wraps nothing.
    let status = unsafe { sys::napi_unwrap(env.raw(), this, &mut native) };
    if status != sys::Status::napi_ok || native.is_null() {
        return Err(invalid());
    }
    if !checked::contains(native) {
        // Another addon's object may wrap anything: only the class type tag
        // napi-rs stamps on the objects it wraps with a `Box<Executor>` (tag
        // and wrap are set together, and the wrap is only removed by the
        // finalizer, which drops the box) says this is one of ours.
        let mut tagged = false;
        let tag = <Executor as TypeTag>::type_tag();
        // SAFETY: as above.
        let status = unsafe { sys::napi_check_object_type_tag(env.raw(), this, &tag, &mut tagged) };
        if status != sys::Status::napi_ok || !tagged {
            return Err(invalid());
        }
        // SAFETY: tagged, so a live `Box<Executor>` (see above).
        let executor = unsafe { &*(native as *const Executor) };
        if remember && executor.is_live() && executor.home == checked::home() {
            checked::remember(executor, native);
        }
    }
    // SAFETY: `native` is a live `Box<Executor>` (see `checked`); the
    // receiver keeps it alive while it is on this callback's stack, and the
    // methods take `&self` only.
    Ok((unsafe { &*(native as *const Executor) }, argv))
}

/// The addresses of the live `Executor`s whose JS objects have passed the
/// type tag check, so that later calls on them take one private-property
/// lookup of V8 (`napi_unwrap`) instead of two (each about a fifth of a
/// `run(0)` by perf). An address is added by a method call on its object (unless
/// it was freed) and removed by `free()` and when the `Executor` is dropped
/// (by the finalizer, or where a construction fails), so every address here
/// is a live `Executor`: a value that unwraps to one is that executor's own
/// object (napi-rs wraps each box once), and any other is checked by its
/// tag. Only this copy of the addon's executors are added: two copies of
/// one version (in `node_modules` twice) stamp the same tag, and another
/// copy's executor is dropped by that copy, which would leave its address
/// here.
pub mod checked {
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::hash::{BuildHasherDefault, Hasher};

    /// Mixes an address (its low bits are zero: allocations are aligned)
    /// into a hash whose low bits vary.
    #[derive(Default)]
    pub struct AddressHasher(u64);

    impl Hasher for AddressHasher {
        fn finish(&self) -> u64 {
            let h = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            h ^ (h >> 32)
        }

        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = (self.0 << 8) | u64::from(b);
            }
        }

        fn write_usize(&mut self, n: usize) {
            self.0 = n as u64;
        }
    }

    /// A byte whose address tells this copy of the addon from others.
    static HOME: u8 = 0;

    /// This copy of the addon, as `Executor::home` records it.
    pub fn home() -> usize {
        &HOME as *const u8 as usize
    }

    thread_local! {
        /// Per thread: an env (and its executors) lives on one thread.
        static ADDRESSES: RefCell<HashSet<usize, BuildHasherDefault<AddressHasher>>> =
            RefCell::new(HashSet::default());
    }

    pub fn contains(native: *mut std::ffi::c_void) -> bool {
        ADDRESSES
            .try_with(|set| set.borrow().contains(&(native as usize)))
            .unwrap_or(false)
    }

    /// Adds `executor`, which is at `native`.
    pub fn remember(executor: &crate::Executor, native: *mut std::ffi::c_void) {
        if ADDRESSES
            .try_with(|set| set.borrow_mut().insert(native as usize))
            .is_ok()
        {
            executor.checked_at.set(native as usize);
        }
    }

    /// Removes `executor` (called by `free()` and its `Drop`). (During a
    /// thread's exit, after its thread-locals are gone, there is nothing to
    /// remove from.)
    pub fn forget(executor: &crate::Executor) {
        let address = executor.checked_at.replace(0);
        if address != 0 {
            let _ = ADDRESSES.try_with(|set| set.borrow_mut().remove(&address));
        }
    }
}

/// Runs one method call: finds the receiver (`remember`: see [`receiver`]),
/// calls `f`, throws its error.
/// A Rust panic is caught and thrown as `ERR_INTERNAL` (it must not unwind
/// into Node).
///
/// # Safety
/// `env` and `info` are those of the callback in progress.
unsafe fn dispatch<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    what: &str,
    remember: bool,
    f: impl FnOnce(&Executor, &Env, [Unknown<'_>; N]) -> Outcome,
) -> sys::napi_value {
    let env = Env::from_raw(env);
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the callback's env and info (this function's contract).
        let (executor, argv) = unsafe { receiver::<N>(&env, info, what, remember)? };
        // SAFETY: values of the current callback scope.
        let args = argv.map(|raw| unsafe { Unknown::from_raw_unchecked(env.raw(), raw) });
        f(executor, &env, args)
    }))
    .unwrap_or_else(|payload| Err(panic_error(&env, &*payload)));
    match result {
        Ok(value) => value,
        Err(error) => {
            // SAFETY: throws on the current env.
            unsafe { JsError::from(error).throw_into(env.raw()) };
            ptr::null_mut()
        }
    }
}

/// Defines `extern "C"` callbacks that call `Executor` methods through
/// [`dispatch`], plus the table [`install`] puts on the prototype.
macro_rules! entry_points {
    ($(
        $kind:ident $js:literal => $cb:ident(
            |$this:ident, $env:ident $(, $arg:ident)*| $body:expr
        );
    )*) => {
        $(
            unsafe extern "C" fn $cb(
                env: sys::napi_env,
                info: sys::napi_callback_info,
            ) -> sys::napi_value {
                // SAFETY: called by Node-API as a callback.
                unsafe {
                    dispatch(env, info, entry_points!(@what $kind $js),
                        entry_points!(@remember $js), |$this, $env, [$($arg),*]| $body)
                }
            }
        )*

        /// (JS name, is a getter, callback) for every replaced entry.
        const ENTRY_POINTS: &[(&str, bool, Callback)] = &[
            $(($js, entry_points!(@getter $kind), $cb)),*
        ];
    };
    (@what method $js:literal) => { concat!("Executor.prototype.", $js, "()") };
    (@what getter $js:literal) => { concat!("the Executor getter ", $js) };
    (@remember "free") => { false };
    (@remember $js:literal) => { true };
    (@getter method) => { false };
    (@getter getter) => { true };
}

entry_points! {
    method "run" => run(|this, env, gas| to_js(env, this.run(*env, gas)?));
    method "serializeMemory" => serialize_memory(|this, env| to_js(env, this.serialize_memory(env)?));
    method "snapshotJson" => snapshot_json(|this, env| to_js(env, this.snapshot_json(*env)?));
    method "deserializeMemory" => deserialize_memory(|this, env, data| {
        to_js(env, this.deserialize_memory(*env, data)?)
    });
    method "free" => free(|this, env| to_js(env, this.free(*env)?));
    method "readMemory" => read_memory(|this, env, offset, length| {
        to_js(env, this.read_memory(*env, offset, length)?)
    });
    method "writeMemory" => write_memory(|this, env, offset, bytes| {
        to_js(env, this.write_memory(*env, offset, bytes)?)
    });
    getter "status" => status(|this, env| to_js(env, this.status()));
    getter "gasUsed" => gas_used(|this, env| to_js(env, this.gas_used(*env)?));
    getter "gasBalance" => gas_balance(|this, env| to_js(env, this.gas_balance(*env)?));
    getter "memorySize" => memory_size(|this, env| to_js(env, this.memory_size(*env)?));
    getter "stdout" => stdout(|this, env| to_js(env, this.stdout(*env)?));
    getter "stderr" => stderr(|this, env| to_js(env, this.stderr(*env)?));
    getter "exitCode" => exit_code(|this, env| to_js(env, this.exit_code(*env)?));
}

thread_local! {
    /// `Executor.prototype` as this thread's env defined it (each env runs
    /// on a thread of its own): the env and a reference to it.
    static PROTOTYPE: std::cell::Cell<Option<(sys::napi_env, sys::napi_ref)>> =
        const { std::cell::Cell::new(None) };
}

/// Whether `Executor.prototype` is on `object`'s prototype chain, as
/// `object instanceof Executor` tells, without calling
/// `Executor[Symbol.hasInstance]` (about 0.1 µs of `new Executor`). A chain
/// of more than a few links (or a Proxy's) is left to `instanceof`.
pub fn inherits_prototype(env: &Env, object: &Object) -> Result<bool> {
    let Some((owner, reference)) = PROTOTYPE.with(|cell| cell.get()) else {
        return <Executor as JavaScriptClassExt>::instance_of(env, object);
    };
    if owner != env.raw() {
        return <Executor as JavaScriptClassExt>::instance_of(env, object);
    }
    let mut prototype = ptr::null_mut();
    // SAFETY: a reference of this env (checked above).
    check_status!(unsafe { sys::napi_get_reference_value(env.raw(), reference, &mut prototype) })?;
    let mut current = object.raw();
    for _ in 0..8 {
        let mut next = ptr::null_mut();
        let mut kind = sys::ValueType::napi_undefined;
        let mut same = false;
        // SAFETY: plain Node-API calls on the current env. `current` is an
        // object: the receiver (an object, as napi-rs's `This` is), then
        // prototypes that are not null. A Proxy's `getPrototypeOf` trap may
        // run JS and throw; the exception stays pending.
        unsafe {
            check_status!(sys::napi_get_prototype(env.raw(), current, &mut next))?;
            check_status!(sys::napi_strict_equals(
                env.raw(),
                next,
                prototype,
                &mut same
            ))?;
            if same {
                return Ok(true);
            }
            check_status!(sys::napi_typeof(env.raw(), next, &mut kind))?;
        }
        if kind != sys::ValueType::napi_object && kind != sys::ValueType::napi_function {
            return Ok(false);
        }
        current = next;
    }
    <Executor as JavaScriptClassExt>::instance_of(env, object)
}

/// Replaces the methods and getters of `Executor.prototype` with the
/// callbacks above. Each keeps the attributes napi-rs gave it (writable for
/// methods, enumerable and configurable), so the class looks the same.
pub fn install(env: &Env, exports: &Object) -> Result<()> {
    let class = exports
        .get_named_property::<Unknown>("Executor")?
        .coerce_to_object()?;
    let prototype: Object = class.get_named_property("prototype")?;
    let names: Vec<std::ffi::CString> = ENTRY_POINTS
        .iter()
        .map(|(name, _, _)| std::ffi::CString::new(*name).expect("no NUL in names"))
        .collect();
    let mut descriptors = Vec::with_capacity(ENTRY_POINTS.len());
    for (&(js_name, getter, callback), name) in ENTRY_POINTS.iter().zip(&names) {
        let mut descriptor = sys::napi_property_descriptor {
            utf8name: name.as_ptr(),
            name: ptr::null_mut(),
            method: None,
            getter: None,
            setter: None,
            value: ptr::null_mut(),
            attributes: sys::PropertyAttributes::enumerable | sys::PropertyAttributes::configurable,
            data: ptr::null_mut(),
        };
        if getter {
            descriptor.getter = Some(callback);
        } else {
            // A function of its own (rather than `method`), so that it has
            // its name, as napi-rs's methods do.
            // SAFETY: a plain Node-API call on the current env.
            let status = unsafe {
                sys::napi_create_function(
                    env.raw(),
                    name.as_ptr(),
                    js_name.len() as isize,
                    Some(callback),
                    ptr::null_mut(),
                    &mut descriptor.value,
                )
            };
            if status != sys::Status::napi_ok {
                return Err(Error::new(
                    Status::GenericFailure,
                    "napi_create_function failed",
                ));
            }
            descriptor.attributes |= sys::PropertyAttributes::writable;
        }
        descriptors.push(descriptor);
    }
    // SAFETY: valid descriptors; the names are copied by Node-API.
    let status = unsafe {
        sys::napi_define_properties(
            env.raw(),
            prototype.raw(),
            descriptors.len(),
            descriptors.as_ptr(),
        )
    };
    if status != sys::Status::napi_ok {
        return Err(Error::new(
            Status::GenericFailure,
            "could not install the Executor methods",
        ));
    }
    // Forget an earlier env's reference first (a later env can get the same
    // address on this thread). The new one is never deleted: it lives as
    // long as the env, like the class.
    PROTOTYPE.with(|cell| cell.set(None));
    let mut reference = ptr::null_mut();
    // SAFETY: a strong reference to a live object of this env.
    check_status!(unsafe {
        sys::napi_create_reference(env.raw(), prototype.raw(), 1, &mut reference)
    })?;
    PROTOTYPE.with(|cell| cell.set(Some((env.raw(), reference))));
    Ok(())
}
